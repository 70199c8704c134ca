"""One JSON error shape everywhere: {"error": {"code": "...", "message": "..."}}, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client can act on, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, challenge: str = 'Bearer realm="moderation"'):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.challenge = challenge  # the WWW-Authenticate of a 401: how to authenticate on this route


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response = error_response(exc.status, exc.code, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = exc.challenge
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            limit = request.max_content_length
            message = f"The request body is larger than the limit of {limit} bytes for this endpoint."
        response = error_response(exc.code or 500, _code_for(exc), message)
        # Keep what the exception adds beyond the body (Allow on a 405, WWW-Authenticate...).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(SQLAlchemyError)
    def store_error(exc: SQLAlchemyError):
        # The database is down, locked past the busy timeout, or out of space: nothing of this request was
        # recorded (each request's writes are one transaction), so the client retries.
        log.error("store unavailable: %s", exc.__class__.__name__, exc_info=exc)
        response = error_response(503, "store_unavailable", "The moderation store could not be reached; nothing "
                                  "was recorded. Retry the request.")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "The server failed to handle the request.")
