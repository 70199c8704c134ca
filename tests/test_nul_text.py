"""A NUL character (U+0000) is valid JSON and valid Unicode, but PostgreSQL cannot store it in a text column: sent
in a comment, an article or an id it made every write (and read) there fail, answered `503 store_unavailable`
with `Retry-After`, so a CMS would retry the same comment for ever. It is refused at the door instead, as lone
surrogates are: `400 invalid_text`, on every store (tests/test_postgres.py runs the same check on PostgreSQL)."""

from __future__ import annotations

from service import create_app

ARTICLE = {"id": "mosul", "title": "ISIL fighters flee Mosul", "body": "Iraqi forces closed in on Mosul."}


def check_a_nul_character_is_a_400_and_stores_nothing(app) -> None:
    client, store = app.test_client(), app.extensions["store"]
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer k"  # the API and admin key
    nul = "a\u0000b"
    bodies = [{"text": nul, "article": ARTICLE, "comment_id": "n1"},
              {"text": "ok", "article": ARTICLE, "comment_id": nul},
              {"text": "ok", "article": {"id": nul, "title": "t"}},
              {"text": "ok", "article": {"id": "a2", "title": nul}},
              {"text": "ok", "article": {"id": "a3", "body": nul}}]
    for body in bodies:
        answer = client.post("/v1/moderate", json=body)
        assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_text", (body, answer.json)
        assert "U+0000" in answer.json["error"]["message"]
        item = {**{k: v for k, v in body.items() if k != "comment_id"}, "id": body.get("comment_id")}
        batch = client.post("/v1/moderate/batch", json={"comments": [item]})
        assert batch.status_code == 400 and batch.json["error"]["message"].startswith("comments[0]: ")
    for label in ({"text": nul, "label": "spam"}, {"text": "ok", "label": "spam", "comment_id": nul},
                  {"text": "ok", "label": "spam", "moderator": nul}):
        assert client.post("/v1/feedback", json=label).status_code == 400, label
    assert client.put("/v1/articles/a4", json={"title": nul}).status_code == 400
    for path in ("/v1/articles/a%00b", "/v1/comments/a%00b"):
        for method in (client.get, client.delete, client.put):
            answer = method(path, json={"title": "t"})
            assert answer.status_code in (400, 405) and answer.json["error"]["code"] in ("invalid_text",
                                                                                        "method_not_allowed"), path
    form = {"api_key": "k", "comment_content": "ok", "permalink": nul}
    for endpoint in ("/1.1/comment-check", "/1.1/submit-spam"):
        answer = client.post(endpoint, data=form)
        assert answer.status_code == 400, (endpoint, answer.get_data(as_text=True))
    assert client.post("/1.1/submit-ham", data={**form, "permalink": "p", "blog": nul}).status_code == 400
    # nothing was stored, and the store still answers
    assert store.review_queue() == [] and store.list_feedback() == [] and store.thread("mosul") == []
    assert client.post("/v1/moderate", json={"text": "fine", "article": ARTICLE}).status_code == 200
    # a moderator name with a NUL, typed on the review page's sign-in form, loses it (it is stored with reviews)
    token = _csrf(client.get("/review").get_data(as_text=True))  # the sign-in form
    client.post("/review/login", data={"key": "k", "moderator": "an\u0000a", "csrf": token})
    page = client.get("/review").get_data(as_text=True)
    acted = client.post(f"/review/{store.review_queue()[0]['id']}", data={"action": "reject", "csrf": _csrf(page)})
    assert acted.status_code == 303 and [r["moderator"] for r in store.list_feedback()] == ["ana"]


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def make_app(tiny_registry, url: str, **config):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SPAM_FLAG": 0.0,
                       "SPAM_REJECT": 1.0, "DATABASE_URL": url, "API_KEYS": "k", "ADMIN_KEYS": "k",
                       "SECRET_KEY": "test",
                       **config})


def test_a_nul_character_is_a_400_and_stores_nothing(tiny_registry, tmp_path):
    check_a_nul_character_is_a_400_and_stores_nothing(make_app(tiny_registry, f"sqlite:///{tmp_path / 'm.db'}"))
