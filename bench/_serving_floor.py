"""App factories for the serving bench's floor runs: the real service with parts of the work taken away, to show
where the time of a /v1/moderate request goes (`make bench BENCH=serving` starts gunicorn with them).

- `constant_model_app()`: the model's scoring replaced by a constant verdict; everything else is real (key check,
  JSON parsing and validation, the article store read and thread write, the decisions log, metrics, access log).
- `constant_model_no_store_app()`: the same, and the article is not looked up nor its thread written.

Bench code only: nothing in the service imports this module.
"""

from __future__ import annotations

from bench._constant_verdict import constant_verdicts
from moderation.moderator import Moderator
from service import create_app


def constant_model_app():
    Moderator.moderate_batch = constant_verdicts
    return create_app()


def constant_model_no_store_app():
    import service.articles

    Moderator.moderate_batch = constant_verdicts
    service.articles.context_for = lambda article: None
    return create_app()
