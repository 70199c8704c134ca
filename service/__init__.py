"""The moderation HTTP service: `create_app()` builds the Flask app (gunicorn runs `service:create_app()`)."""

from __future__ import annotations

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
        SHORT_OFF_TOPIC_FLAG=None,  # one- to five-word comments: default the model's short_off_topic_flag
        SHORT_OFF_TOPIC_ACTION=None,  # default "flag"
        REPEAT_ACTION=None,  # the same text posted again and again (moderation/repeats.py): default "flag"
        REPEAT_MIN=None,  # copies within the window, this one included, from which it acts: default 3
        REPEAT_WINDOW_HOURS=None,  # default 24
        REPEAT_MIN_WORDS=None,  # shorter texts are never repeats: default 6
        TOXIC_FLAG=None,  # toxicity score from which the `toxic` reason applies: default the model's toxic_flag
        TOXIC_ACTION=None,  # the `toxic` reason's action (moderation/toxicity.py): default "flag"; "accept": off
        # Site rules (moderation/site_rules.py): word list files (one entry per line, # comments) and actions.
        BANNED_WORDS=None,
        BANNED_WORD_ACTION=None,  # default "reject"
        SUSPECT_WORDS=None,
        SUSPECT_WORD_ACTION=None,  # default "flag"
        LINKS_ACTION=None,  # default "accept": links are not held
        LINKS_MIN=None,  # default 1: links (outside the allowed domains) from which LINKS_ACTION applies
        ALLOWED_LINK_DOMAINS=None,  # comma-separated: the site's own domains (and their subdomains)
        SITE_RULES_POLL_SECONDS=5.0,  # how often each worker checks the word list files for a change
        MAX_CONTENT_LENGTH=64 * 1024,  # body limit of a single request (413 over it)
        MAX_BATCH_CONTENT_LENGTH=8 * 1024 * 1024,  # body limit of POST /v1/moderate/batch
        MAX_BATCH_COMMENTS=1000,
        KEEPALIVE_REQUESTS=100,  # a keep-alive connection is closed after this many requests (0: never), so
        # gunicorn's workers share a client's connections (service/keepalive.py)
        ACCESS_LOG=True,  # one JSON line per request (never the comment text, unless LOG_TEXT)
        LOG_TEXT=False,
        LOG_LEVEL="INFO",
        DATABASE_URL=None,  # default: SQLite under var/ in the project
        DATABASE_SYNCHRONOUS="NORMAL",  # SQLite commits of threads and flagged comments (labels: always FULL)
        DATABASE_CHECKPOINT_SECONDS=0.5,  # SQLite: WAL checkpoints in a background thread (0: inside commits)
        API_KEYS="",  # comma-separated client keys; none configured = open service, loopback only
        ADMIN_KEYS="",  # comma-separated admin keys (feedback, review, admin endpoints)
        JSON_SORT_KEYS=False,
        MODEL_POLL_SECONDS=2.0,  # how often each worker checks models/current for a new live version
        SECRET_KEY=None,  # signs the review page's session cookie; default: a key kept in var/session.key
        POLICY_POLL_SECONDS=2.0,  # how often each worker checks the store for policy settings changed at run time
    )
    if test_config is None:
        app.config.from_prefixed_env("MODERATION")
    else:
        app.config.from_mapping(test_config)
    from service import akismet, api, articles, engine, errors, feedback, health, live, observability, openapi, review
    from service import reviews
    from service import coral, policy_settings, site_rules

    observability.configure_logging(app.config["LOG_LEVEL"])
    errors.register_error_handlers(app)
    engine.init_app(app)
    observability.init_app(app)
    app.url_map.converters["article_id"] = articles.ArticleIdConverter
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(feedback.bp)
    review.init_app(app)
    live.init_app(app)
    site_rules.init_app(app)
    policy_settings.init_app(app)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(articles.bp)
    app.register_blueprint(akismet.bp)
    coral.init_app(app)
    from service import perspective

    app.register_blueprint(perspective.bp)
    app.register_blueprint(reviews.bp)
    from service import waves
    waves.init_app(app)
    from service.keepalive import KeepaliveRequests

    app.wsgi_app = KeepaliveRequests(app.wsgi_app, int(app.config["KEEPALIVE_REQUESTS"] or 0))
    return app
