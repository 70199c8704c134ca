"""A cap on the requests one keep-alive connection serves (`MODERATION_KEEPALIVE_REQUESTS`, 100 by default; 0: no
cap), as nginx's `keepalive_requests` and Envoy's `max_requests_per_connection` do.

Why: gunicorn's gthread worker accepts every connection it can, and a connection stays with the worker that
accepted it for as long as the client keeps it alive. A client with a few keep-alive connections (a CMS's
connection pool, a proxy's upstream pool, wrk) can so end up with all of them on one worker while the other
idles, which halves the service's capacity for as long as the connections live (the serving bench saw it in
about a third of its rounds: one worker at 1.1 cores, the other at 0). After `limit` requests the answer carries
`Connection: close`; the client opens a new connection, which the worker that is free to accept it first takes,
so connections drift to the idle worker within a fraction of a second. The cost is one TCP connection every
`limit` requests.

The count is kept per connection (the socket gunicorn puts in the WSGI environ, weakly referenced, so nothing
outlives the connection) and the close is asked of gunicorn's response object (`force_close`). Served by
anything else (the Flask test client, another WSGI server), nothing is counted or changed.
"""

from __future__ import annotations

import threading
import weakref


class KeepaliveRequests:
    """WSGI middleware: close a gunicorn keep-alive connection after `limit` requests."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit
        self.counts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        close = getattr(getattr(start_response, "__self__", None), "force_close", None)
        if self.limit > 0 and sock is not None and close is not None:
            with self.lock:
                served = self.counts.get(sock, 0) + 1
                if served >= self.limit:
                    self.counts.pop(sock, None)
                else:
                    self.counts[sock] = served
            if served >= self.limit:
                close()
        return self.app(environ, start_response)
