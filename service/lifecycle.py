"""What a gunicorn worker does right after it is forked from the preloaded master (see service/gunicorn.conf.py)."""

from __future__ import annotations

import logging

from flask import Flask

from moderation.registry import ModelLoadError, ModelRegistry
from service import engine

log = logging.getLogger(__name__)


def after_fork(app: Flask, logger: logging.Logger | None = None) -> None:
    """Give the worker its own database connections and the model that is live now.

    The master loaded the model at start; a worker forked later (replacing a dead one, or max-requests recycling)
    would otherwise serve that old version after a promote. A model that fails to load here keeps the master's
    verified one, and says so.
    """
    logger = logger or log
    store = app.extensions.get("store")
    if store is not None:
        store.dispose(close=False)  # the master's pooled connections are its own: forgotten here, not closed
    if app.config.get("MODEL_VERSION"):
        return  # pinned: nothing can have moved
    moderator = app.extensions.get("moderator")
    try:
        live = ModelRegistry(app.config["MODELS_DIR"]).current_version()
        if moderator is None or (live and live != moderator.version):
            app.extensions["moderator"] = engine.load_moderator(app)
            logger.info("worker loaded live model %s (master had %s)", live,
                        moderator.version if moderator else None)
    except (ModelLoadError, OSError) as exc:
        logger.error("worker could not load the live model, keeps %s: %s",
                     moderator.version if moderator else None, exc)
