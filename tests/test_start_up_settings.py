"""Settings read at start: a bad one stops the start naming the setting; stored policy settings this version does
not know do not stop it."""

from __future__ import annotations

import pytest

from tests.test_policy_settings_changes import _app, _csrf


def test_a_stored_setting_this_version_does_not_know_does_not_stop_the_service(tiny_registry, tmp_path):
    """Settings are stored as JSON and read back at every start. A row written by a newer version of the service
    (a setting added later), read after a rollback of the deploy, made every worker fail to start (a TypeError in
    the policy's constructor): the service down for a stored setting. It is refused like settings that do not fit
    the model - the configured policy applies, GET /v1/model and GET /v1/policy say why."""
    from moderation.store import Store

    url = f"sqlite:///{tmp_path / 'moderation.db'}"
    store = Store(url)
    store.set_policy_settings({"paused": ["spam"], "setting_from_a_newer_version": 0.5}, "from v2", "ana")
    store.engine.dispose()
    app = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    client = app.test_client()
    assert client.post("/v1/moderate", json={"text": "An ordinary comment."}).json["decision"] == "flag"
    assert "setting_from_a_newer_version" in client.get("/v1/model").json["policy_settings_error"]
    assert "setting_from_a_newer_version" in client.get("/v1/policy").json["error"]
    # the review page's button still pauses (the setting this version cannot apply is left out of the new row)
    token = _csrf(client.get("/review").get_data(as_text=True))
    assert client.post("/review/pause", data={"reason": "spam", "csrf": token}).status_code == 303
    assert client.get("/v1/policy").json["settings"] == {"paused": ["spam"]}
    assert client.post("/v1/moderate", json={"text": "An ordinary comment."}).json["decision"] == "accept"


@pytest.mark.parametrize("key", ["POLICY_POLL_SECONDS", "MODEL_POLL_SECONDS", "SITE_RULES_POLL_SECONDS"])


@pytest.mark.parametrize("value", [-1, "-0.5", "nan", "inf", "soon"])


def test_a_poll_interval_that_is_not_a_positive_number_stops_the_start(tiny_registry, tmp_path, key, value):
    """MODERATION_POLICY_POLL_SECONDS=-1 was accepted: each worker's polling thread died at its first sleep
    (ValueError), was started again by the next request and died again, so changes made on another worker never
    arrived. NaN and inf did the same; a word did stop the start, with Python's "could not convert" only."""
    (tmp_path / "banned.txt").write_text("buffoon\n")
    with pytest.raises(ValueError, match=f"MODERATION_{key} must be a number of seconds above 0"):
        _app(tiny_registry, tmp_path, BANNED_WORDS=str(tmp_path / "banned.txt"), **{key: value})


@pytest.mark.parametrize("key,value,name", [("SPAM_FLAG", "abc", "spam_flag"), ("OFF_TOPIC_REJECT", [1], "off_topic_reject"),
                                            ("SHORT_OFF_TOPIC_FLAG", True, "short_off_topic_flag"),
                                            ("MAX_COMMENT_CHARS", "abc", "max_chars"),
                                            ("MAX_COMMENT_CHARS", 2.5, "max_chars")])


def test_a_policy_setting_of_the_wrong_type_stops_the_start_with_its_name(tiny_registry, tmp_path, key, value, name):
    """MODERATION_SPAM_FLAG=abc stopped the start with Python's "'<=' not supported between instances of 'float'
    and 'str'", naming no setting; MODERATION_MAX_COMMENT_CHARS=2.5 was taken as a limit of 2.5 characters."""
    from moderation.policy import PolicyError

    with pytest.raises(PolicyError, match=name):
        _app(tiny_registry, tmp_path, **{key: value})
