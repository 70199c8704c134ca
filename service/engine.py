"""The loaded model, attached to the app in the factory and reached through `get_moderator()`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from moderation.moderator import Moderator, policy_for
from moderation.policy import PolicyConfig, PolicyError
from moderation.registry import ModelRegistry
from moderation.site_rules import SiteRules, SiteRulesError
from moderation.store import SYNCHRONOUS, Store, default_url
from service.redact import clean

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
    "REPEAT_ACTION": "repeat_action",
    "REPEAT_MIN": "repeat_min",
    "REPEAT_WINDOW_HOURS": "repeat_window_hours",
    "REPEAT_MIN_WORDS": "repeat_min_words",
    "TOXIC_FLAG": "toxic_flag",
    "TOXIC_ACTION": "toxic_action",
}


# app.config key -> SiteRules.from_settings argument
SITE_RULE_KEYS = {
    "BANNED_WORDS": "banned_words",
    "BANNED_WORD_ACTION": "banned_word_action",
    "SUSPECT_WORDS": "suspect_words",
    "SUSPECT_WORD_ACTION": "suspect_word_action",
    "LINKS_ACTION": "links_action",
    "LINKS_MIN": "links_min",
    "ALLOWED_LINK_DOMAINS": "allowed_link_domains",
}


# Held while a worker swaps its moderator's policy (the word list watcher, the policy settings of
# service/policy_settings.py): each builds the new policy from what the other left, so neither undoes the other.
POLICY_LOCK = threading.Lock()


def policy_overrides(config) -> dict:
    return {field: config.get(key) for key, field in POLICY_KEYS.items() if config.get(key) is not None}


def resolve_policy(app: Flask, model, settings: dict | None = None) -> PolicyConfig:
    """The policy of `model`: its own thresholds, the app's MODERATION_* settings over them, the site rules, and the
    settings moderators set at run time (service/policy_settings.py) on top; raises PolicyError."""
    return policy_for(model, **{**policy_overrides(app.config), **(settings or {})},
                      site=app.extensions.get("site_rules"))


def site_rules(config) -> SiteRules:
    """The site rules from the app's configuration; raises SiteRulesError (a bad configuration stops the start)."""
    return SiteRules.from_settings(**{name: config.get(key) for key, name in SITE_RULE_KEYS.items()})


def load_moderator(app: Flask, version: str | None = None) -> Moderator:
    """Load a version (default: the configured or live one) and build its policy; raises ModelLoadError."""
    registry = ModelRegistry(app.config["MODELS_DIR"])
    model = registry.load(version or app.config.get("MODEL_VERSION"))
    policy = live_policy(app, model)
    log.info("loaded model %s from %s", model.version, registry.root)
    return Moderator(model, policy)


def live_policy(app: Flask, model) -> PolicyConfig:
    """The policy `model` serves under with what is in force now: the site rules and the policy settings
    moderators set at run time (service/policy_settings.py; they stay in force across versions)."""
    settings = (app.extensions.get("policy_settings") or {}).get("settings")
    try:
        return resolve_policy(app, model, settings)
    except PolicyError as exc:
        if not settings:
            raise
        app.extensions["policy_settings_error"] = f"with model {model.version}: {exc}"
        log.error("policy settings do not make a policy with model %s, the configured policy applies: %s",
                  model.version, exc)
        return resolve_policy(app, model)


def init_app(app: Flask) -> None:
    try:
        app.extensions["site_rules"] = site_rules(app.config)
    except SiteRulesError as exc:
        raise SiteRulesError(f"bad site rule configuration (MODERATION_<NAME> settings): {exc}") from None
    app.extensions["moderator"] = load_moderator(app)
    app.extensions["store"] = open_store(app)


def open_store(app: Flask) -> Store:
    """The app's store. A database that cannot be reached now does not stop the start: the app serves with the
    store's schema deferred (/readyz says 503 until the store answers; requests that need the store answer 503
    store_unavailable) and sets it up on the first connection that works (moderation/store.py). A configuration
    that can never work (a malformed URL, an unknown database or driver, a bad MODERATION_DATABASE_SYNCHRONOUS)
    stops the start with a message naming the setting."""
    url = app.config.get("DATABASE_URL") or default_url(Path(app.root_path).parent)
    synchronous = app.config.get("DATABASE_SYNCHRONOUS") or "NORMAL"
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not parsed, so not shown either: the password could not be found to hide it
        raise ValueError("MODERATION_DATABASE_URL is not a database URL (expected "
                         "dialect[+driver]://user:password@host[:port]/database, or sqlite:///path)") from None
    try:
        store = Store(url, synchronous=synchronous,
                      checkpoint_seconds=float(app.config.get("DATABASE_CHECKPOINT_SECONDS") or 0),
                      defer_unreachable=True)
    except (ArgumentError, NoSuchModuleError) as exc:  # a dialect or driver SQLAlchemy does not know
        raise ValueError(f"MODERATION_DATABASE_URL {shown}: {exc}") from None
    except ImportError as exc:  # the database's DB-API driver is not installed
        raise ValueError(f"MODERATION_DATABASE_URL {shown}: its driver is not installed ({exc})") from None
    except ValueError as exc:
        if str(synchronous).upper() not in SYNCHRONOUS:
            raise ValueError(f"MODERATION_DATABASE_SYNCHRONOUS: {exc}") from None
        raise
    if store.unreachable is not None:
        log.warning("the store cannot be reached at start-up (%s): the service starts NOT READY (/readyz 503, "
                    "requests that need the store 503 store_unavailable) and sets the store's schema up when the "
                    "database answers", clean(store.unreachable, store)[:300])
    return store


def get_store() -> Store:
    return current_app.extensions["store"]


def get_moderator() -> Moderator | None:
    return current_app.extensions.get("moderator")
