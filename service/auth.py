"""API keys: `Authorization: Bearer <key>`, compared in constant time.

`API_KEYS` (MODERATION_API_KEYS) are for CMS clients, `ADMIN_KEYS` (MODERATION_ADMIN_KEYS) for feedback, review
and admin endpoints; an admin key is also accepted where a client key is. With no key configured at all, the
service is open and gunicorn binds loopback only (see service/gunicorn.conf.py).
"""

from __future__ import annotations

import hmac
from functools import wraps

from flask import current_app, request

from service.errors import ApiError


def configured_keys(kind: str) -> list[str]:
    """Keys of one kind ("api" or "admin") from the app config: a comma-separated string or a list."""
    value = current_app.config.get("ADMIN_KEYS" if kind == "admin" else "API_KEYS") or []
    if not isinstance(value, (list, tuple)):
        # from_prefixed_env parses values as JSON: MODERATION_API_KEYS=12345 arrives as a number.
        value = str(value).split(",")
    return [str(k).strip() for k in value if k is not None and str(k).strip()]


def auth_enabled() -> bool:
    return bool(configured_keys("api") or configured_keys("admin"))


def key_matches(presented: str, kind: str) -> bool:
    """Whether a presented key is valid for `kind`; compares against every key so timing reveals nothing."""
    allowed = configured_keys("admin") + ([] if kind == "admin" else configured_keys("api"))
    match = False
    for key in allowed:
        match |= hmac.compare_digest(presented.encode("utf-8"), key.encode("utf-8"))
    return match


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_key(kind: str = "api"):
    """Decorator: the view needs a valid key of `kind` ("api" or "admin") when any key is configured."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if auth_enabled():
                token = bearer_token()
                if token is None:
                    raise ApiError(401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'.")
                if not key_matches(token, kind):
                    raise ApiError(401, "unauthorized", "The API key is not valid for this endpoint.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
