"""The JSON error shape for requests gunicorn refuses itself, before the app sees them.

gunicorn answers malformed HTTP (a request line over `limit_request_line`, too many or too large headers, a broken
Content-Length or chunk size, an unknown Transfer-Encoding) from its worker, with a small HTML page. This API
promises `{"error": {"code", "message"}}` on every error and never a 5xx for bad input, so `install()` (called by
service/gunicorn.conf.py in the master, before the workers are forked) replaces gunicorn's error writer with one
that answers the same status in that shape. gunicorn still decides the status and logs the refusal.
"""

from __future__ import annotations

import json

from gunicorn import util

CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
}
MESSAGE_CHARS = 200  # gunicorn's message quotes the request: an error answer never echoes much of it


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering the API's JSON error shape instead of HTML."""
    if status_int == 501:  # an unsupported Transfer-Encoding: bad input, which this API answers with a 4xx
        status_int, reason = 400, "Bad Request"
    message = (mesg or reason)[:MESSAGE_CHARS]
    body = json.dumps({"error": {"code": CODES.get(status_int, "bad_request" if status_int < 500 else
                                                   "internal_error"),
                                 "message": f"{reason}: {message}" if mesg else reason}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


def install() -> None:
    """Make gunicorn's workers (forked after this) answer their own refusals in the JSON error shape."""
    util.write_error = write_json_error
