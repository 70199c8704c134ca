"""Reading a request: the raw body, the JSON object in it and the query's integers, each refused with the API's
JSON error saying what is wrong (415, 400, 413, 422). Shared by every blueprint that takes a body (service/api.py,
articles, feedback, policy settings and the adapters); what the object must hold is its request model's
(service/request_models.py)."""

from __future__ import annotations

import json

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from service.errors import ApiError

def raw_body(max_bytes: int | None = None) -> bytes:
    """The request body's bytes, 413 over the limit (`max_bytes`, else the app's MAX_CONTENT_LENGTH)."""
    if max_bytes is not None:
        request.max_content_length = max_bytes
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit rather than refused: anything left unread means it was over.
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def json_body(max_bytes: int | None = None) -> dict:
    """The request body as a JSON object, or an ApiError saying exactly what is wrong with it.

    `max_bytes` replaces the app's MAX_CONTENT_LENGTH for this request (a batch may be larger); over it, 413.
    """
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    raw = raw_body(max_bytes)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The body is empty; send a JSON object.")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "The body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "The body is nested too deeply.") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4,300-digit limit
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "The body must be a JSON object.")
    return body


def stored_comment_id(comment_id) -> str | None:
    """The CMS's comment id as the store keeps it with a comment (thread row, repeat count): a string, or None when
    none (or an empty one) was sent."""
    return None if comment_id in (None, "") else str(comment_id)
