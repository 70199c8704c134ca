import pytest

from moderation.registry import ModelLoadError
from service import create_app

SPAM = "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel"


def moderate(client, payload):
    response = client.post("/v1/moderate", json=payload)
    assert response.is_json
    return response


def test_answer_has_the_contract_shape(client, seed_article):
    response = moderate(client, {"text": "Shoe level lies.", "article": seed_article})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"decision", "scores", "reasons", "model_version"}
    assert body["decision"] in {"accept", "flag", "reject"}
    assert 0.0 <= body["scores"]["spam"] <= 1.0
    assert "off_topic" in body["scores"]
    assert body["model_version"] == client.get("/v1/model").get_json()["version"]
    assert all(set(r) == {"code", "message"} for r in body["reasons"])


def test_length_limit(client):
    sentence = "The council vote on the new budget was closer than the mayor expected, and turnout was low. "
    legit = (sentence * 20)[:1500]
    assert len(legit) == 1500
    accepted = moderate(client, {"text": legit}).get_json()
    assert "too_long" not in [r["code"] for r in accepted["reasons"]]
    too_long = moderate(client, {"text": legit + "x"}).get_json()
    assert too_long["decision"] == "reject"
    assert [r["code"] for r in too_long["reasons"]][0] == "too_long"


def test_empty_comment_is_rejected(client):
    body = moderate(client, {"text": " \n\ufeff "}).get_json()
    assert body["decision"] == "reject" and body["reasons"][0]["code"] == "empty"
    assert body["scores"]["spam"] is None


def test_obvious_spam_is_not_accepted(client):
    body = moderate(client, {"text": SPAM}).get_json()
    assert body["decision"] != "accept"
    assert any(r["code"] == "spam" for r in body["reasons"])


def test_configured_limit_applies(tiny_registry, tmp_path):
    app = create_app({"MODELS_DIR": str(tiny_registry.root), "MAX_COMMENT_CHARS": 10,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    body = app.test_client().post("/v1/moderate", json={"text": "eleven char"}).get_json()
    assert body["reasons"][0]["code"] == "too_long"


@pytest.mark.parametrize("kwargs,status,code", [
    ({"json": {"article": {"title": "x"}}}, 422, "invalid_request"),
    ({"json": {"text": 42}}, 422, "invalid_request"),
    ({"json": {"text": None}}, 422, "invalid_request"),
    ({"json": ["text"]}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": "mosul"}}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": {"id": [1]}}}, 422, "invalid_request"),
    ({"json": {"text": "ok", "article": {"title": 5}}}, 422, "invalid_request"),
    ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"\xff\xfe{}", "content_type": "application/json"}, 400, "invalid_encoding"),
    ({"data": '{"text": "\\ud800"}', "content_type": "application/json"}, 400, "invalid_text"),
    ({"data": "text=hello", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ({"data": "hello"}, 415, "unsupported_media_type"),
])
def test_bad_input_gets_a_json_4xx(client, kwargs, status, code):
    response = client.post("/v1/moderate", **kwargs)
    assert response.status_code == status
    assert response.get_json() == {"error": {"code": code, "message": response.get_json()["error"]["message"]}}
    assert response.get_json()["error"]["message"]


def test_oversized_body_is_413(client):
    response = client.post("/v1/moderate", json={"text": "x" * 100_000})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_unknown_route_and_method_are_json(client):
    assert client.get("/v1/nope").get_json()["error"]["code"] == "not_found"
    response = client.get("/v1/moderate")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_probes_and_model_endpoint(client, tiny_registry):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready == {"status": "ready", "model_version": tiny_registry.current_version(), "store": "ok"}
    model = client.get("/v1/model").get_json()
    assert model["version"] == tiny_registry.current_version()
    assert model["libraries"]["scikit-learn"] and model["thresholds"]["spam_reject"]
    assert model["policy"]["max_chars"] == 1500


def test_missing_model_is_a_startup_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no live model"):
        create_app({"MODELS_DIR": str(tmp_path / "none"), "DATABASE_URL": "sqlite:///:memory:"})


def test_decision_does_not_depend_on_case_or_invisible_characters(client):
    a = moderate(client, {"text": "check out my channel for free gifts"}).get_json()
    b = moderate(client, {"text": "check out my channel for free gifts\ufeff"}).get_json()
    assert a["scores"] == b["scores"]


def test_keys_are_required_once_configured(tiny_registry, tmp_path):
    app = create_app({"MODELS_DIR": str(tiny_registry.root), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                      "API_KEYS": "cms-key-1, cms-key-2", "ADMIN_KEYS": "admin-key"})
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic cms-key-1"}):
        response = client.post("/v1/moderate", json={"text": "hello"}, headers=headers)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    for key in ("cms-key-1", "cms-key-2", "admin-key"):
        response = client.post("/v1/moderate", json={"text": "hello"}, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
