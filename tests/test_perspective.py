"""The Perspective-compatible endpoint, driven by Google's own API client as sites call Perspective with it.

The app runs on a local port; the client is built from the discovery document the service serves
(`discoveryServiceUrl`, as Perspective's documentation builds it from Google's), with the site's API key as its
`developerKey`: the client is unchanged, only the host differs.
"""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from service import create_app

KEY = "site-key"
INSULT = "You are a stupid idiot and your ideas are pathetic garbage."
CIVIL = "Thank you for the clear reporting on the council budget vote."


@pytest.fixture()
def perspective_app(tiny_registry, tmp_path):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root), "API_KEYS": KEY,
                       "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}"})


@pytest.fixture()
def base_url(perspective_app):
    server = make_server("127.0.0.1", 0, perspective_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def google_client(base_url: str, key: str = KEY):
    from googleapiclient import discovery

    return discovery.build("commentanalyzer", "v1alpha1", developerKey=key, static_discovery=False,
                           discoveryServiceUrl=f"{base_url}/$discovery/rest?version=v1alpha1", cache_discovery=False)


def test_googles_client_gets_a_toxicity_score_and_spans(base_url, perspective_app):
    client = google_client(base_url)
    rude = client.comments().analyze(body={
        "comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"],
        "spanAnnotations": True, "doNotStore": True}).execute()
    polite = client.comments().analyze(body={
        "comment": {"text": CIVIL}, "requestedAttributes": {"TOXICITY": {}}}).execute()
    summary = rude["attributeScores"]["TOXICITY"]["summaryScore"]
    assert summary["type"] == "PROBABILITY" and 0 <= summary["value"] <= 1
    assert summary["value"] > polite["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert rude["languages"] == ["en"] and rude["detectedLanguages"] == ["en"]
    spans = rude["attributeScores"]["TOXICITY"]["spanScores"]
    marked = {INSULT[s["begin"]:s["end"]].lower() for s in spans}
    assert any("idiot" in m or "stupid" in m for m in marked), marked
    assert all(s["score"]["type"] == "PROBABILITY" for s in spans)
    # the same score as /v1/moderate's, and nothing was stored for either comment
    with perspective_app.test_client() as local:
        moderated = local.post("/v1/moderate", json={"text": INSULT},
                               headers={"Authorization": f"Bearer {KEY}"}).get_json()
    assert moderated["scores"]["toxicity"] == summary["value"]
    without_spans = polite["attributeScores"]["TOXICITY"]["spanScores"]
    assert without_spans == [{"begin": 0, "end": len(CIVIL), "score": polite["attributeScores"]["TOXICITY"]["summaryScore"]}]


def test_googles_client_sees_perspectives_errors(base_url):
    from googleapiclient.errors import HttpError

    client = google_client(base_url)
    with pytest.raises(HttpError) as unsupported:
        client.comments().analyze(body={"comment": {"text": CIVIL},
                                        "requestedAttributes": {"SEVERE_TOXICITY": {}}}).execute()
    assert unsupported.value.resp.status == 400
    error = json.loads(unsupported.value.content)["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert error["message"] == "Attribute SEVERE_TOXICITY does not support request languages: en"
    with pytest.raises(HttpError) as wrong_key:
        google_client(base_url, key="not-the-key").comments().analyze(body={
            "comment": {"text": CIVIL}, "requestedAttributes": {"TOXICITY": {}}}).execute()
    assert wrong_key.value.resp.status == 400
    assert "API key not valid" in json.loads(wrong_key.value.content)["error"]["message"]


def test_suggestscore_is_accepted_like_perspective(base_url):
    answer = google_client(base_url).comments().suggestscore(body={
        "comment": {"text": INSULT}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
        "clientToken": "coral-1"}).execute()
    assert answer["clientToken"] == "coral-1"


def test_the_key_as_bearer_header_and_bad_requests(perspective_app):
    client = perspective_app.test_client()
    body = {"comment": {"text": CIVIL}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.99}}}
    ok = client.post("/v1alpha1/comments:analyze", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and ok.get_json()["attributeScores"] == {}  # under its threshold: left out
    missing = client.post("/v1alpha1/comments:analyze", json=body)
    assert missing.status_code == 403 and missing.get_json()["error"]["status"] == "PERMISSION_DENIED"
    for bad, message in (({"requestedAttributes": {"TOXICITY": {}}}, "Comment must be specified."),
                         ({"comment": {"text": CIVIL}}, "At least one requested attribute must be specified."),
                         ({"comment": {"text": "   "}, "requestedAttributes": {"TOXICITY": {}}},
                          "Comment text was too short to analyze.")):
        answer = client.post(f"/v1alpha1/comments:analyze?key={KEY}", json=bad)
        assert answer.status_code == 400 and answer.get_json()["error"]["message"] == message
    french = client.post(f"/v1alpha1/comments:analyze?key={KEY}", json={
        "comment": {"text": "Quel idiot"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"]})
    assert french.status_code == 400
    assert french.get_json()["error"]["message"] == "Attribute TOXICITY does not support request languages: fr"
    broken = client.post(f"/v1alpha1/comments:analyze?key={KEY}", data=b"{not json",
                         content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["error"]["status"] == "INVALID_ARGUMENT"
