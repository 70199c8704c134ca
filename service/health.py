"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.engine import get_moderator

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Alive: the process answers HTTP."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready: a verified model is loaded and can score."""
    moderator = get_moderator()
    if moderator is None:
        return jsonify({"status": "unavailable", "reason": current_app.extensions.get("model_error")}), 503
    return jsonify({"status": "ready", "model_version": moderator.version})
