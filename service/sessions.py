"""The review page's signed-cookie session, opened only for requests that carry a session cookie.

Flask's SecureCookieSessionInterface builds an itsdangerous serializer (key derivation set-up, ~15-20 us) on every
request before it looks for the cookie. The API's callers (the CMS, probes, Prometheus) never send one, so their
requests get the same empty session without that work; a request with the cookie is opened as before.
"""

from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class CookieSessionOnDemand(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what the parent returns for a request without the cookie
        return super().open_session(app, request)
