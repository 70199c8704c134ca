"""The loaded model, attached to the app in the factory and reached through `get_moderator()`."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, current_app

from moderation.moderator import Moderator, policy_for
from moderation.policy import PolicyConfig
from moderation.registry import ModelRegistry
from moderation.store import Store, default_url

log = logging.getLogger(__name__)

# app.config key -> PolicyConfig field; a value of None keeps the model's own threshold.
POLICY_KEYS = {
    "MAX_COMMENT_CHARS": "max_chars",
    "TOO_LONG_ACTION": "too_long_action",
    "EMPTY_ACTION": "empty_action",
    "SPAM_FLAG": "spam_flag",
    "SPAM_REJECT": "spam_reject",
    "OFF_TOPIC_FLAG": "off_topic_flag",
    "OFF_TOPIC_REJECT": "off_topic_reject",
    "SHORT_OFF_TOPIC_FLAG": "short_off_topic_flag",
    "SHORT_OFF_TOPIC_ACTION": "short_off_topic_action",
}


def policy_overrides(config) -> dict:
    return {field: config.get(key) for key, field in POLICY_KEYS.items() if config.get(key) is not None}


def load_moderator(app: Flask, version: str | None = None) -> Moderator:
    """Load a version (default: the configured or live one) and build its policy; raises ModelLoadError."""
    registry = ModelRegistry(app.config["MODELS_DIR"])
    model = registry.load(version or app.config.get("MODEL_VERSION"))
    policy: PolicyConfig = policy_for(model, **policy_overrides(app.config))
    log.info("loaded model %s from %s", model.version, registry.root)
    return Moderator(model, policy)


def init_app(app: Flask) -> None:
    app.extensions["moderator"] = load_moderator(app)
    app.extensions["store"] = Store(app.config.get("DATABASE_URL") or default_url(Path(app.root_path).parent),
                                    synchronous=app.config.get("DATABASE_SYNCHRONOUS") or "NORMAL",
                                    checkpoint_seconds=float(app.config.get("DATABASE_CHECKPOINT_SECONDS") or 0))


def get_store() -> Store:
    return current_app.extensions["store"]


def get_moderator() -> Moderator | None:
    return current_app.extensions.get("moderator")
