"""Database messages without credentials: the store's URL and password, and anything shaped like them, removed
before a message is logged or answered (the readiness probe, the start-up warning of an unreachable store)."""

from __future__ import annotations

import re

# user:password@ in a URL (to the last @: a password may hold an unescaped one); password= in a DSN or query string,
# its value quoted (libpq quotes one with spaces) or up to a space, ; or &
_CREDENTIALS = re.compile(r"(://)[^/\s]*@"
                          r"|(\b(?:password|passwd|pwd)\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|[^\s;&]+)",
                          re.IGNORECASE)


def clean(message: str, store) -> str:
    """`message` without the store's URL or password, nor anything shaped like credentials."""
    url = store.engine.url
    for secret in {str(getattr(store, "url", "") or ""), url.render_as_string(hide_password=False), url.password}:
        if secret:
            message = message.replace(str(secret), "***")
    return _CREDENTIALS.sub(lambda m: (m.group(1) or m.group(2)) + "***" + ("@" if m.group(1) else ""), message)
