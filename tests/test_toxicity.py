"""The toxicity score: its place in the answers, its reason and setting, its spans, and what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.policy import PolicyConfig, PolicyError, decide
from moderation.toxicity import offsets, span_f1
from service import create_app

INSULT = "You are a stupid idiot and your ideas are pathetic garbage."
CIVIL = "Thank you for the clear reporting on the council budget vote."


def make_app(tiny_registry, tmp_path, **config):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                       "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config})


def test_the_span_metric_is_the_shared_tasks():
    assert span_f1(set(), set()) == 1.0
    assert span_f1({1}, set()) == 0.0 and span_f1(set(), {1}) == 0.0
    assert span_f1({1, 2, 3, 4}, {3, 4, 5, 6}) == pytest.approx(0.5)


def test_single_comment_path_equals_the_batch_path(tiny_registry):
    model = tiny_registry.load().artifact["toxicity"]
    texts = [INSULT, CIVIL, "ok", "Idiots. ALL of them!!! http://x.example", "日本語のコメント です", "a " * 400]
    batch = model.scores(texts)
    one = np.array([model.scores([t])[0] for t in texts])
    assert np.max(np.abs(batch - one)) < 1e-6  # float32 TF-IDF in the batch; answers carry 4 decimals


def test_scores_toxicity_in_moderate_batch_and_explain(client):
    rude = client.post("/v1/moderate", json={"text": INSULT, "explain": True}).get_json()
    polite = client.post("/v1/moderate", json={"text": CIVIL}).get_json()
    assert 0 <= polite["scores"]["toxicity"] < rude["scores"]["toxicity"] <= 1
    spans = rude["explanation"]["toxic_spans"]
    assert spans and all(INSULT[s["begin"]:s["end"]] == s["text"] for s in spans)
    assert any("idiot" in s["text"].lower() for s in spans)
    batch = client.post("/v1/moderate/batch", json={"comments": [{"text": INSULT}, {"text": "   "}]}).get_json()
    assert batch["results"][0]["scores"]["toxicity"] == rude["scores"]["toxicity"]
    assert batch["results"][1]["scores"]["toxicity"] is None  # empty: not scored


@pytest.mark.parametrize("action", ["flag", "reject", "accept"])
def test_the_toxic_reason_follows_its_action_and_never_moves_the_other_scores(tiny_registry, tmp_path, action):
    plain = make_app(tiny_registry, tmp_path, TOXIC_ACTION="accept", SPAM_FLAG=0.999, SPAM_REJECT=0.9999).test_client()
    app = make_app(tiny_registry, tmp_path, TOXIC_FLAG=0.0, TOXIC_ACTION=action, SPAM_FLAG=0.999,
                   SPAM_REJECT=0.9999)
    before = plain.post("/v1/moderate", json={"text": INSULT}).get_json()
    after = app.test_client().post("/v1/moderate", json={"text": INSULT}).get_json()
    assert after["scores"] == before["scores"]
    codes = [r["code"] for r in after["reasons"]]
    assert ("toxic" in codes) == (action != "accept")
    assert after["decision"] == (action if action != "accept" else before["decision"])


def test_policy_checks_the_toxic_settings():
    with pytest.raises(PolicyError):
        PolicyConfig(toxic_action="delete")
    with pytest.raises(PolicyError):
        PolicyConfig(toxic_flag=1.5)
    policy = PolicyConfig(toxic_flag=0.8)
    assert decide(20, 0.0, policy, toxicity=0.79).decision == "accept"
    held = decide(20, 0.0, policy, toxicity=0.8)
    assert held.decision == "flag" and held.reasons[0].code == "toxic"
    assert decide(20, 0.0, policy, toxicity=None).decision == "accept"


def test_the_threshold_and_spans_come_from_training(tiny_registry):
    metadata = tiny_registry.metadata(tiny_registry.current_version())
    assert 0.5 <= metadata["thresholds"]["toxic_flag"] < 1
    report = metadata["metrics"]["toxicity"]
    assert report["threshold_rule"]["scores"].startswith("calibrated out-of-fold")
    assert 0 <= report["evaluation"]["span_f1_test"] <= 1
    model = tiny_registry.load().artifact["toxicity"]
    assert offsets(model.spans(INSULT, 1.0)) <= set(range(len(INSULT)))


def test_a_model_without_toxicity_still_serves(tiny_registry, tmp_path, small_examples):
    from moderation.registry import ModelRegistry
    from training.train import train_model

    registry = ModelRegistry(tmp_path / "models")
    train_model(registry, examples=small_examples[:400], threshold_folds=3)
    app = create_app({"TESTING": True, "MODELS_DIR": str(registry.root),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}"})
    answer = app.test_client().post("/v1/moderate", json={"text": INSULT, "explain": True}).get_json()
    assert answer["scores"]["toxicity"] is None and "toxic_spans" not in answer["explanation"]
    missing = app.test_client().post("/v1alpha1/comments:analyze", json={
        "comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}})
    assert missing.status_code == 503 and missing.get_json()["error"]["status"] == "UNAVAILABLE"


def test_the_review_page_highlights_toxic_spans():
    from service.review import toxic_segments

    explanation = {"toxic_spans": [{"begin": 15, "end": 21, "score": 0.8}, {"begin": 99, "end": 120}]}
    assert toxic_segments("You are a very stupid man", explanation) == [
        ("You are a very ", False), ("stupid", True), (" man", False)]
    assert toxic_segments("plain", None) == [("plain", False)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_rescore_output_carries_the_toxicity_score(tiny_registry, tmp_path, suffix, client):
    import json

    from training.rescore import RescoreOptions, rescore
    from training.rescore_io import Source, read_output

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate([INSULT, CIVIL])),
                      encoding="utf-8")
    out = tmp_path / f"new{suffix}"
    rescore(Source(source), out, RescoreOptions(models_dir=tiny_registry.root, workers=1, progress=False))
    rows = read_output(out)
    served = client.post("/v1/moderate", json={"text": INSULT}).get_json()["scores"]["toxicity"]
    first = rows[0]["scores"]["toxicity"] if suffix == ".jsonl" else float(rows[0]["toxicity"])
    assert first == served


def test_the_adapters_carry_the_toxic_reason(tiny_registry, tmp_path):
    import hashlib
    import hmac
    import json

    app = make_app(tiny_registry, tmp_path, TOXIC_FLAG=0.0, SPAM_FLAG=0.999, SPAM_REJECT=0.9999,
                   CORAL_SIGNING_SECRETS="coral-secret")
    raw = json.dumps({"action": "NEW", "comment": {"id": "c-9", "body": f"<p>{INSULT}</p>"},
                      "story": {"id": "story-1"}}).encode()
    signature = "sha256=" + hmac.new(b"coral-secret", raw, hashlib.sha256).hexdigest()
    answer = app.test_client().post("/coral/v1/moderate", data=raw, content_type="application/json",
                                    headers={"X-Coral-Signature": signature})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in answer.get_json()["actions"]
    assert 0 <= float(answer.headers["X-Moderation-Toxicity"]) <= 1


def test_the_review_page_highlights_a_toxic_span_in_chromium(tiny_registry, tmp_path):
    import shutil
    import threading

    from selenium.webdriver.common.by import By
    from werkzeug.serving import make_server

    from test_review_browser import start_browser

    app = make_app(tiny_registry, tmp_path, TOXIC_FLAG=0.0, SECRET_KEY="browser-test")
    assert app.test_client().post("/v1/moderate", json={"text": INSULT}).get_json()["decision"] == "flag"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver, profile = start_browser()
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/review")  # no keys configured: the page is open
        marks = driver.find_elements(By.CSS_SELECTOR, "article.item p.text mark.toxic")
        assert marks and any("idiot" in m.text.lower() for m in marks)
        assert driver.find_element(By.CSS_SELECTOR, "article.item p.text").text == INSULT
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        server.shutdown()
