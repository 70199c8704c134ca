"""The moderation HTTP service: `create_app()` builds the Flask app (gunicorn runs `service:create_app()`)."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then MODERATION_* environment variables, then `test_config`; load the model."""
    app = Flask(__name__)
    app.config.from_mapping(
        MODELS_DIR=str(PROJECT_ROOT / "models"),
        MODEL_VERSION=None,
        MAX_COMMENT_CHARS=1500,
        TOO_LONG_ACTION=None,
        EMPTY_ACTION=None,
        SPAM_FLAG=None,
        SPAM_REJECT=None,
        OFF_TOPIC_FLAG=None,
        OFF_TOPIC_REJECT=None,
        MAX_CONTENT_LENGTH=64 * 1024,
        DATABASE_URL=None,  # default: SQLite under var/ in the project
        API_KEYS="",  # comma-separated client keys; none configured = open service, loopback only
        ADMIN_KEYS="",  # comma-separated admin keys (feedback, review, admin endpoints)
        JSON_SORT_KEYS=False,
    )
    if test_config is None:
        app.config.from_prefixed_env("MODERATION")
    else:
        app.config.from_mapping(test_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from service import api, articles, engine, errors, health

    errors.register_error_handlers(app)
    engine.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(articles.bp)
    return app
