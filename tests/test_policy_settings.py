"""Policy settings at run time: a moderator stops a runaway false positive with one click, every worker follows."""

from __future__ import annotations

import os

import pytest

from moderation.policy import FLAG, REJECT, PolicyConfig, PolicyError, decide
from service import create_app

ADMIN = {"Authorization": "Bearer admin-key"}


def _app(tiny_registry, tmp_path, **config):
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


@pytest.fixture()
def flag_all(tiny_registry, tmp_path):
    """Flags every non-empty comment for spam (spam_flag 0, never rejects), so a pause shows plainly."""
    return _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)


def moderate(client, text="A perfectly ordinary comment about the budget vote.", **extra):
    response = client.post("/v1/moderate", json={"text": text, **extra})
    assert response.status_code == 200, response.json
    return response.json


def test_a_paused_reason_is_listed_but_does_not_hold_and_a_reject_stays():
    paused = PolicyConfig(spam_flag=0.5, spam_reject=0.9, paused=("spam",))
    held = decide(40, 0.7, paused)
    assert held.decision == "accept"
    assert [(r.code, r.action) for r in held.reasons] == [("spam", "accept")]
    assert "paused by a moderator" in held.reasons[0].message
    assert decide(40, 0.95, paused).decision == REJECT  # a pause stops holds, never rejections
    assert decide(40, 0.7, PolicyConfig(spam_flag=0.5, spam_reject=0.9)).decision == FLAG
    # another reason still holds
    both = decide(40, 0.7, PolicyConfig(spam_flag=0.5, off_topic_flag=0.5, paused=("spam",)), off_topic=0.9)
    assert both.decision == FLAG
    with pytest.raises(PolicyError):
        PolicyConfig(paused=("toxicity",))
    assert "paused" not in PolicyConfig().to_dict()  # rescore checkpoints of unpaused policies are unchanged
    assert PolicyConfig.from_dict(paused.to_dict()).paused == ("spam",)


def test_pausing_over_the_api_takes_effect_at_once_and_is_recorded(flag_all):
    client = flag_all.test_client()
    assert moderate(client)["decision"] == "flag"
    response = client.put("/v1/policy", json={"settings": {"paused": ["spam"]}, "note": "spam model holds "
                          "everything since this morning", "moderator": "ana"})
    assert response.status_code == 200, response.json
    assert response.json["settings"] == {"paused": ["spam"]}
    assert response.json["policy"]["paused"] == ["spam"]
    answer = moderate(client)
    assert answer["decision"] == "accept"
    assert [r["code"] for r in answer["reasons"]] == ["spam"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'moderation_policy_paused{reason="spam"} 1.0' in metrics
    assert 'moderation_policy_paused{reason="off_topic"} 0.0' in metrics
    assert "moderation_policy_settings_changed_timestamp_seconds" in metrics
    history = client.get("/v1/policy").json["history"]
    assert [(h["settings"], h["moderator"]) for h in history] == [({"paused": ["spam"]}, "ana")]
    assert history[0]["changed_at"].endswith("+00:00")
    # {} goes back to the configured policy
    assert client.put("/v1/policy", json={"settings": {}, "note": "fixed by the retrained model"}).status_code == 200
    assert moderate(client)["decision"] == "flag"
    assert len(client.get("/v1/policy").json["history"]) == 2


def test_another_worker_follows_and_a_restart_keeps_the_settings(tiny_registry, tmp_path):
    one = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    two = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)  # a second worker on the same store
    assert moderate(two.test_client())["decision"] == "flag"
    one.test_client().put("/v1/policy", json={"settings": {"paused": ["spam"]}, "note": "runaway"})
    watcher = two.extensions["policy_settings_watcher"]
    assert watcher.poll() is True
    assert moderate(two.test_client())["decision"] == "accept"
    assert watcher.poll() is False  # nothing new
    restarted = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    assert moderate(restarted.test_client())["decision"] == "accept"


def test_a_threshold_set_at_run_time_beats_the_configured_one(tiny_registry, tmp_path):
    app = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    client = app.test_client()
    response = client.put("/v1/policy", json={"settings": {"spam_flag": 1.0}, "note": "hold nothing for spam"})
    assert response.status_code == 200, response.json
    assert response.json["policy"]["spam_flag"] == 1.0
    assert moderate(client)["decision"] == "accept"


@pytest.mark.parametrize("body, code", [
    ({"settings": {"paused": ["toxicity"]}, "note": "x"}, "invalid_request"),
    ({"settings": {"paused": "spam"}, "note": "x"}, "invalid_request"),
    ({"settings": {"spam_flag": 1.5}, "note": "x"}, "invalid_request"),
    ({"settings": {"spam_flag": True}, "note": "x"}, "invalid_request"),
    ({"settings": {"repeat_action": "delete"}, "note": "x"}, "invalid_request"),
    ({"settings": {"max_chars": 10}, "note": "x"}, "invalid_request"),
    ({"settings": {"paused": ["spam"]}}, "invalid_request"),
    ({"settings": {"paused": ["spam"]}, "note": "   "}, "invalid_request"),
    ({"settings": {"paused": ["spam"]}, "note": "x", "extra": 1}, "invalid_request"),
    ({"note": "x"}, "invalid_request"),
    ({"settings": [], "note": "x"}, "invalid_request"),
    ({"settings": {"spam_flag": 0.9, "spam_reject": 0.2}, "note": "x"}, "invalid_request"),
    # fine alone, but above the model's own reject threshold (0.99 at most: see the assertion below)
    ({"settings": {"spam_flag": 1.0}, "note": "x"}, "conflicts_with_model"),
])
def test_bad_settings_get_a_4xx_and_change_nothing(app, body, code):
    client = app.test_client()
    before = app.extensions["moderator"].policy
    assert before.spam_reject < 1.0
    response = client.put("/v1/policy", json=body)
    assert response.status_code == (409 if code == "conflicts_with_model" else 422), response.json
    assert response.json["error"]["code"] == code
    assert app.extensions["moderator"].policy == before
    assert client.get("/v1/policy").json["history"] == []


def test_the_policy_endpoints_need_an_admin_key(tiny_registry, tmp_path):
    app = _app(tiny_registry, tmp_path, API_KEYS="cms-key", ADMIN_KEYS="admin-key")
    client = app.test_client()
    body = {"settings": {"paused": ["spam"]}, "note": "x"}
    assert client.get("/v1/policy").status_code == 401
    assert client.put("/v1/policy", json=body, headers={"Authorization": "Bearer cms-key"}).status_code == 401
    assert client.put("/v1/policy", json=body, headers=ADMIN).status_code == 200
    assert client.get("/v1/policy", headers=ADMIN).json["settings"] == {"paused": ["spam"]}


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    return page[page.index(marker) + len(marker):].split('"', 1)[0]


def test_one_click_on_the_review_page_stops_the_holds_and_resume_restores_them(flag_all):
    client = flag_all.test_client()
    moderate(client)
    page = client.get("/review").get_data(as_text=True)
    assert "Stop holding for spam" in page
    token = _csrf(page)
    assert client.post("/review/pause", data={"reason": "spam", "csrf": "forged"}).status_code == 400
    assert client.post("/review/pause", data={"reason": "nonsense", "csrf": token}).status_code == 400
    response = client.post("/review/pause", data={"reason": "spam", "decision_id": "1", "csrf": token},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert 'id="resume-spam"' in page and "Stop holding for spam" not in page
    assert moderate(client)["decision"] == "accept"
    row = flag_all.extensions["store"].latest_policy_settings()
    assert row["settings"] == {"paused": ["spam"]} and "comment #1" in row["note"]
    client.post("/review/resume", data={"reason": "spam", "csrf": token})
    assert moderate(client)["decision"] == "flag"
    assert flag_all.extensions["store"].latest_policy_settings()["settings"] == {}


def test_the_review_page_buttons_need_a_signed_in_admin(tiny_registry, tmp_path):
    app = _app(tiny_registry, tmp_path, API_KEYS="cms-key", ADMIN_KEYS="admin-key")
    client = app.test_client()
    assert client.post("/review/pause", data={"reason": "spam", "csrf": "x"}).status_code == 401
    assert app.extensions["store"].latest_policy_settings() is None


def test_settings_a_new_model_cannot_take_are_reported_and_the_configured_policy_applies(tiny_registry, tmp_path):
    app = _app(tiny_registry, tmp_path)
    store = app.extensions["store"]
    # a row no PUT would accept (a reject below the flag), as settings made for another model's thresholds can be
    store.set_policy_settings({"spam_flag": 0.99, "spam_reject": 0.5}, "old", None)
    restarted = _app(tiny_registry, tmp_path)
    assert "policy_settings_error" in restarted.extensions
    assert restarted.extensions["moderator"].policy.spam_reject == app.extensions["moderator"].policy.spam_reject
    assert "policy_settings_error" in restarted.test_client().get("/v1/model").json


def test_a_new_worker_process_catches_up_at_its_first_request(tiny_registry, tmp_path):
    """A forked gunicorn worker starts its polling thread at its first request; that request must not be served
    with settings from before the fork (the thread's first poll comes only an interval later)."""
    one = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    two = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0, POLICY_POLL_SECONDS=3600)
    one.test_client().put("/v1/policy", json={"settings": {"paused": ["spam"]}, "note": "after the fork"})
    watcher = two.extensions["policy_settings_watcher"]
    watcher._pid = -1  # as in a process forked from the one that made the app
    watcher.ensure_running()  # what the worker's first request does
    assert two.extensions["moderator"].policy.paused == ("spam",)
    watcher.ensure_running()  # the same process again: no second catch-up poll
    assert watcher._pid == os.getpid()
