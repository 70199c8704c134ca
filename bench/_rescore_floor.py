"""`python -m bench._rescore_floor rescore ...`: the rescore CLI with the model's work replaced by a constant
verdict (no scoring, no article contexts built), for the throughput bench's floor run - what reading, the thread
pass, chunking, worker processes, writing and checkpoints cost without the model.

The replacement is made at import, so the spawned worker processes (which import this module as their main
module) score with it too. Bench code only: nothing in the project imports this module.
"""

from __future__ import annotations

import training.rescore
from bench._constant_verdict import constant_verdicts
from moderation.moderator import Moderator


class _NoContexts:
    def has(self, key) -> bool:
        return True  # nothing to build: no sample is read

    def get_many(self, wanted: dict) -> dict:
        return dict.fromkeys(wanted)


Moderator.moderate_batch = constant_verdicts
training.rescore._CONTEXTS = _NoContexts()

if __name__ == "__main__":
    from training.__main__ import cli

    cli()
