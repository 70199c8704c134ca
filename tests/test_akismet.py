"""The Akismet-compatible adapter (service/akismet.py): the calls an Akismet client makes, answered by this model."""

from __future__ import annotations

import urllib.parse

import pytest

from service import create_app

SPAM = "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel"
PERMALINK = "https://news.example/2016/10/mosul"
ARTICLE = {"title": "ISIL fighters flee Mosul as Iraqi forces approach",
           "body": "Iraqi forces closed in on Mosul as ISIL fighters fled the city."}


def make_app(tiny_registry, tmp_path, **config):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "API_KEYS": "cms",
                       "ADMIN_KEYS": "admin", "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config})


@pytest.fixture()
def akismet(tiny_registry, tmp_path):
    return make_app(tiny_registry, tmp_path)


def check(client, **fields):
    """A comment-check as Akismet clients send it: form-encoded, the key as api_key, IP and agent included."""
    form = {"api_key": "cms", "blog": "https://news.example", "user_ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0", "comment_type": "comment", "comment_author": "Ann", **fields}
    return client.post("/1.1/comment-check", data=form)


def test_answers_agree_with_v1_moderate(akismet):
    """true / false and the discard tip follow the same decision /v1/moderate gives for the same comment."""
    client = akismet.test_client()
    auth = {"Authorization": "Bearer cms"}
    texts = [SPAM, "Good reporting, thanks.", "FREE ringtones txt WIN to 80082 now!!!", "", "x" * 1501,
             "Congratulations! You have won a $1000 Walmart gift card. Go to http://bit.ly/123 to claim now."]
    seen = set()
    for text in texts:
        own = client.post("/v1/moderate", json={"text": text}, headers=auth).json
        answer = check(client, comment_content=text)
        assert answer.status_code == 200 and answer.mimetype == "text/plain"
        assert answer.get_data(as_text=True) == ("false" if own["decision"] == "accept" else "true"), text
        assert (answer.headers.get("X-akismet-pro-tip") == "discard") == (own["decision"] == "reject")
        assert answer.headers["X-Moderation-Decision"] == own["decision"]
        assert answer.headers["X-Moderation-Reasons"] == ",".join(r["code"] for r in own["reasons"])
        assert answer.headers["X-Moderation-Model-Version"] == own["model_version"]
        seen.add(own["decision"])
    assert {"accept", "reject"} <= seen  # both answers were exercised


def test_the_permalink_is_the_article_and_an_accepted_comment_joins_its_thread(tiny_registry, tmp_path):
    akismet = make_app(tiny_registry, tmp_path, SPAM_FLAG=1.0, SPAM_REJECT=1.0, OFF_TOPIC_FLAG=1.0,
                       SHORT_OFF_TOPIC_FLAG=1.0)  # every comment accepted: this is about the article and thread
    client = akismet.test_client()
    quoted = urllib.parse.quote(PERMALINK, safe="")
    created = client.put(f"/v1/articles/{quoted}", json=ARTICLE, headers={"Authorization": "Bearer cms"})
    assert created.status_code == 201
    answer = check(client, comment_content="Mosul will be free soon", permalink=PERMALINK)
    assert answer.get_data(as_text=True) == "false", dict(answer.headers)
    assert "X-Moderation-Off-Topic" in answer.headers  # scored against the stored article
    assert akismet.extensions["store"].thread(PERMALINK) == ["Mosul will be free soon"]
    # A test call or a recheck is scored but stores nothing.
    for extra in ({"is_test": "1"}, {"recheck_reason": "edit"}):
        assert check(client, comment_content="Pray for Mosul", permalink=PERMALINK, **extra).status_code == 200
    assert akismet.extensions["store"].thread(PERMALINK) == ["Mosul will be free soon"]


def test_a_held_comment_is_true_without_discard_and_enters_the_review_queue(tiny_registry, tmp_path):
    app = make_app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)  # every comment flagged
    answer = check(app.test_client(), comment_content="Nice one", permalink=PERMALINK)
    assert answer.get_data(as_text=True) == "true" and "X-akismet-pro-tip" not in answer.headers
    assert answer.headers["X-Moderation-Decision"] == "flag"
    queued = app.extensions["store"].review_queue()
    assert [(q["text"], q["article_id"]) for q in queued] == [("Nice one", PERMALINK)]


def test_submit_spam_and_ham_become_labels_with_an_admin_key_only(akismet):
    client = akismet.test_client()
    store = akismet.extensions["store"]
    quoted = urllib.parse.quote(PERMALINK, safe="")
    client.put(f"/v1/articles/{quoted}", json=ARTICLE, headers={"Authorization": "Bearer cms"})
    refused = client.post("/1.1/submit-spam", data={"api_key": "cms", "comment_content": SPAM})
    assert refused.status_code == 401 and store.list_feedback() == []
    for path, text in (("/1.1/submit-spam", SPAM), ("/1.1/submit-ham", "Mosul will be free soon")):
        done = client.post(path, data={"api_key": "admin", "blog": "https://news.example", "comment_content": text,
                                       "permalink": PERMALINK, "user_ip": "203.0.113.9"})
        assert done.status_code == 200 and done.get_data(as_text=True) == "Thanks for making the web a better place."
    labels = [(f["label"], f["text"], f["article_id"], f["article_title"], f["moderator"])
              for f in store.list_feedback()]
    assert labels == [("spam", SPAM, PERMALINK, ARTICLE["title"], "akismet:https://news.example"),
                      ("ham", "Mosul will be free soon", PERMALINK, ARTICLE["title"], "akismet:https://news.example")]
    assert all("203.0.113.9" not in str(f) for f in store.list_feedback())  # the IP is never stored


def test_verify_key(akismet):
    client = akismet.test_client()
    assert client.post("/1.1/verify-key", data={"key": "cms", "blog": "x"}).get_data(as_text=True) == "valid"
    assert client.post("/1.1/verify-key", data={"key": "admin", "blog": "x"}).get_data(as_text=True) == "valid"
    for key in ("wrong", ""):
        assert client.post("/1.1/verify-key", data={"key": key, "blog": "x"}).get_data(as_text=True) == "invalid"


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": {"comment_content": "hi"}}, 401, "unauthorized"),  # no key
    ({"data": {"api_key": "wrong", "comment_content": "hi"}}, 401, "unauthorized"),
    ({"data": {"api_key": "cms"}}, 422, "invalid_request"),  # no comment_content
    ({"json": {"api_key": "cms", "comment_content": "hi"}}, 415, "unsupported_media_type"),
    ({"data": b"api_key=cms&comment_content=caf%E9", "content_type": "application/x-www-form-urlencoded"},
     400, "invalid_encoding"),
    ({"data": b"api_key=cms&comment_content=caf\xe9", "content_type": "application/x-www-form-urlencoded"},
     400, "invalid_encoding"),
    ({"data": {"api_key": "cms", "comment_content": "x" * 70000}}, 413, "request_entity_too_large"),
])
def test_bad_calls_are_json_4xx_with_akismets_debug_header(akismet, kwargs, status, code):
    answer = akismet.test_client().post("/1.1/comment-check", **kwargs)
    assert answer.status_code == status and answer.json["error"]["code"] == code
    assert answer.headers["X-akismet-debug-help"]
    assert akismet.extensions["store"].review_queue() == []


def test_utf8_sent_unencoded_is_read_as_text(akismet):
    body = "api_key=cms&comment_content=Caf\u00e9 na Mosul, bom dia".encode()
    answer = akismet.test_client().post("/1.1/comment-check", data=body,
                                        content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200 and answer.get_data(as_text=True) in {"true", "false"}


def test_the_reference_akismet_client_works_against_the_adapter(tiny_registry, tmp_path):
    """python-akismet (the maintained Python client) as a CMS would use it, its HTTP calls sent to this app: the
    key check, the three answers, and the submit calls with a client key (refused) and an admin key."""
    import akismet
    import httpx

    app = make_app(tiny_registry, tmp_path)
    http = httpx.Client(transport=httpx.WSGITransport(app=app))  # the client's https://rest.akismet.com/1.1/...

    def client(key):
        return akismet.SyncClient.validated_client(config=akismet.Config(key=key, url="https://news.example"),
                                                   http_client=http)

    with pytest.raises(akismet.APIKeyError):
        client("not-a-key")
    cms = client("cms")
    assert cms.comment_check(user_ip="203.0.113.9", comment_content=SPAM, permalink=PERMALINK) \
        == akismet.CheckResponse.DISCARD
    assert cms.comment_check(user_ip="203.0.113.9", comment_content="Good reporting, thanks.") \
        == akismet.CheckResponse.HAM
    flagging = make_app(tiny_registry, tmp_path / "flag", SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    held = akismet.SyncClient.validated_client(
        config=akismet.Config(key="cms", url="https://news.example"),
        http_client=httpx.Client(transport=httpx.WSGITransport(app=flagging)))
    assert held.comment_check(user_ip="203.0.113.9", comment_content="Nice one") == akismet.CheckResponse.SPAM
    with pytest.raises(akismet.RequestError):  # labels need an admin key
        cms.submit_spam(user_ip="203.0.113.9", comment_content=SPAM)
    admin = client("admin")
    assert admin.submit_spam(user_ip="203.0.113.9", comment_content=SPAM, permalink=PERMALINK)
    assert admin.submit_ham(user_ip="203.0.113.9", comment_content="Good reporting, thanks.")
    assert [f["label"] for f in app.extensions["store"].list_feedback()] == ["spam", "ham"]
