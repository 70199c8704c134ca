import pytest

from moderation.policy import PolicyConfig, PolicyError, decide

POLICY = PolicyConfig(max_chars=1500, spam_flag=0.4, spam_reject=0.9)


def codes(decision):
    return [r.code for r in decision.reasons]


def test_clean_comment_is_accepted_without_reasons():
    d = decide(200, 0.05, POLICY)
    assert d.decision == "accept" and d.reasons == ()


def test_spam_thresholds_flag_then_reject():
    assert decide(100, 0.39, POLICY).decision == "accept"
    assert decide(100, 0.4, POLICY).decision == "flag"
    assert decide(100, 0.9, POLICY).decision == "reject"
    assert codes(decide(100, 0.95, POLICY)) == ["spam"]


def test_length_limit_is_inclusive():
    assert decide(1500, 0.0, POLICY).decision == "accept"
    d = decide(1501, 0.0, POLICY)
    assert d.decision == "reject" and codes(d) == ["too_long"]
    assert "1501" in d.reasons[0].message and "1500" in d.reasons[0].message


def test_empty_is_rejected_with_its_own_reason():
    d = decide(0, None, POLICY)
    assert d.decision == "reject" and codes(d) == ["empty"]


def test_reasons_are_kept_apart_and_most_severe_wins():
    d = decide(2000, 0.5, POLICY)
    assert codes(d) == ["too_long", "spam"] and d.decision == "reject"
    lenient = POLICY.with_overrides(too_long_action="flag")
    assert decide(2000, 0.1, lenient).decision == "flag"


def test_off_topic_flags_but_never_rejects_by_default():
    d = decide(20, 0.0, POLICY, off_topic=0.99)
    assert d.decision == "flag" and codes(d) == ["off_topic"]
    strict = POLICY.with_overrides(off_topic_reject=0.95)
    assert decide(20, 0.0, strict, off_topic=0.99).decision == "reject"


@pytest.mark.parametrize("bad", [
    {"max_chars": 0}, {"spam_flag": 1.5}, {"spam_flag": 0.9, "spam_reject": 0.5}, {"empty_action": "delete"},
])
def test_nonsense_policy_is_refused(bad):
    with pytest.raises(PolicyError):
        PolicyConfig(**bad)
