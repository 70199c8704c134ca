"""The review page's forms refuse what they cannot check with a 4xx: a forged CSRF token is a 400 whatever
characters it holds."""

from __future__ import annotations

import pytest

from tests.test_policy_settings_changes import _app

ADMIN = {"Authorization": "Bearer admin-key"}


@pytest.mark.parametrize("path,form", [("/review/login", {"key": "admin-key"}),
                                       ("/review/1", {"action": "accept"}),
                                       ("/review/pause", {"reason": "spam"}),
                                       ("/review/logout", {})])


def test_a_csrf_token_with_non_ascii_characters_is_a_400_not_a_500(tiny_registry, tmp_path, path, form):
    """hmac.compare_digest refuses str with non-ASCII characters (TypeError): a forged token like "é" was a 500."""
    app = _app(tiny_registry, tmp_path, ADMIN_KEYS="admin-key")
    client = app.test_client()
    client.get("/review")  # a session with a token
    for forged in ("é", "\u2603" * 43):
        response = client.post(path, data={**form, "csrf": forged}, headers=ADMIN)
        assert response.status_code == 400, (path, response.status_code)
