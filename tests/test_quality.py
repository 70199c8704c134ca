"""Judgement quality: explanations, threshold choice and the held-out protocols."""

import numpy as np
import pytest

from moderation.explain import explain_spam
from moderation.features import spam_scores, source_weights
from training import protocols
from training.datasets import Example
from training.metrics import choose_thresholds, threshold_table

NEWS = "The council should publish the budget figures before the vote, not after it, so residents can see the cost."
SPAM_LINK = NEWS + " Check out my channel and subscribe http://bit.ly/free-cash-now"


@pytest.fixture(scope="module")
def spam_pipeline(tiny_registry):
    return tiny_registry.load().spam


def test_a_spam_link_raises_the_spam_score_and_the_explanation_says_so(spam_pipeline):
    plain, linked = spam_scores(spam_pipeline, [NEWS, SPAM_LINK])
    assert linked > plain
    explanation = explain_spam(spam_pipeline, SPAM_LINK)
    up = {(i["kind"], i["feature"]) for i in explanation["pushed_up"]}
    assert up & {("words", "<link>"), ("signal", "links"), ("signal", "promo_phrases"), ("words", "subscribe"),
                 ("characters", "http://bit.ly/free-cash-now")}, explanation
    assert all(i["weight"] > 0 for i in explanation["pushed_up"])
    assert all(i["weight"] < 0 for i in explanation["pushed_down"])


def test_explanation_weights_add_up_to_the_linear_score(spam_pipeline):
    explanation = explain_spam(spam_pipeline, SPAM_LINK, top=10_000)
    linear = spam_pipeline[-1].decision_function(spam_pipeline[:-1].transform([SPAM_LINK]))[0]
    total = explanation["bias"] + sum(i["weight"] for i in explanation["pushed_up"] + explanation["pushed_down"])
    assert explanation["linear_score"] == pytest.approx(linear, abs=1e-2)
    assert total == pytest.approx(linear, abs=5e-2)


@pytest.mark.parametrize("variant", [
    lambda t: t + "\ufeff", lambda t: "\ufeff" + t, lambda t: t.replace(" ", " \u200b"), lambda t: t.lower(),
    lambda t: t.upper(),
])
def test_case_and_invisible_characters_do_not_change_decisions(client, variant):
    for text in (NEWS, SPAM_LINK, "Shoe level lies.", "I love this song so much"):
        a = client.post("/v1/moderate", json={"text": text}).get_json()
        b = client.post("/v1/moderate", json={"text": variant(text)}).get_json()
        assert a["decision"] == b["decision"], (text, a, b)


def test_invisible_characters_do_not_change_the_score(spam_pipeline):
    assert spam_scores(spam_pipeline, [SPAM_LINK])[0] == spam_scores(spam_pipeline, ["\ufeff" + SPAM_LINK])[0]


def test_moderate_explain_adds_an_explanation_and_keeps_the_contract(client):
    plain = client.post("/v1/moderate", json={"text": SPAM_LINK}).get_json()
    explained = client.post("/v1/moderate", json={"text": SPAM_LINK, "explain": True}).get_json()
    assert set(plain) == {"decision", "scores", "reasons", "model_version"}
    assert set(explained) == set(plain) | {"explanation"}
    assert {k: explained[k] for k in plain} == plain
    explanation = explained["explanation"]
    assert explanation["spam"] == plain["scores"]["spam"]
    for item in explanation["pushed_up"] + explanation["pushed_down"]:
        assert set(item) == {"feature", "kind", "weight"} and item["kind"] in {"words", "characters", "signal"}
    assert "explanation" not in client.post("/v1/moderate", json={"text": NEWS, "explain": False}).get_json()


def test_explain_must_be_a_boolean(client):
    response = client.post("/v1/moderate", json={"text": NEWS, "explain": "yes"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_explain_on_an_empty_comment_is_null(client):
    body = client.post("/v1/moderate", json={"text": "  ", "explain": True}).get_json()
    assert body["decision"] == "reject" and body["explanation"] is None


def test_reject_threshold_meets_the_target_precision_and_ham_rate():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000, int), np.ones(300, int)]
    scores = np.r_[rng.beta(1, 12, 2000), rng.beta(8, 1.5, 300)]
    scores[:3] = 0.97  # three legitimate comments that look like spam
    chosen = choose_thresholds(y, scores, target_precision=0.99)
    rejected = scores >= chosen["spam_reject"]
    assert (y[rejected] == 1).mean() >= 0.99
    assert rejected[y == 0].mean() <= 0.002
    assert chosen["spam_flag"] <= chosen["spam_reject"]
    assert (scores[y == 0] >= chosen["spam_flag"]).mean() <= 0.03
    # A stricter precision target never lowers the reject threshold.
    assert choose_thresholds(y, scores, target_precision=0.999)["spam_reject"] >= chosen["spam_reject"]


def test_reject_threshold_holds_for_each_source_when_sources_are_given():
    from training.metrics import SOURCE_REJECT_HAM_RATE

    rng = np.random.default_rng(1)
    # A big source of easy legitimate comments and a small one (200) of which 3 look like spam: 0.2% pooled
    # allows those three, the per-source rule does not.
    y = np.r_[np.zeros(3000, int), np.zeros(200, int), np.ones(400, int)]
    sources = np.array(["news"] * 3000 + ["video"] * 200 + ["video"] * 400)
    scores = np.r_[rng.beta(1, 20, 3000), rng.beta(1, 8, 200), rng.beta(10, 1, 400)]
    scores[3000:3003] = [0.9, 0.93, 0.96]
    pooled = choose_thresholds(y, scores)
    per_source = choose_thresholds(y, scores, sources=sources)
    assert per_source["spam_reject"] >= pooled["spam_reject"]
    for source in ("news", "video"):
        ham = scores[(y == 0) & (sources == source)]
        assert (ham >= per_source["spam_reject"]).mean() <= SOURCE_REJECT_HAM_RATE
    assert (scores[3000:3200] >= pooled["spam_reject"]).mean() > SOURCE_REJECT_HAM_RATE


def test_threshold_table_rows_are_consistent():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.8, 0.7, 0.9])
    rows = {r["threshold"]: r for r in threshold_table(y, s, [0.5, 0.75])}
    assert rows[0.5] == {"threshold": 0.5, "precision": round(2 / 3, 4), "spam_caught": 1.0,
                         "ham_caught": round(1 / 3, 4)}
    assert rows[0.75]["precision"] == 0.5 and rows[0.75]["spam_caught"] == 0.5


def test_source_weights_balance_sources():
    sources = ["sms"] * 8 + ["youtube"] * 2
    w = source_weights(sources, 1.0)
    assert w[:8].sum() == pytest.approx(w[8:].sum())
    assert w.mean() == pytest.approx(1.0)
    assert source_weights(sources, 0) is None


def test_a_site_s_own_labels_weigh_site_weight_times_a_balanced_shared_example():
    sources = ["sms"] * 8 + ["youtube"] * 2 + ["feedback-20261126.jsonl"] * 2
    balanced = source_weights(sources, 0.5)
    weighted = source_weights(sources, 0.5, site_weight=10)
    assert weighted.mean() == pytest.approx(1.0)
    # Relative to a shared example, a site label weighs 10 times what balancing alone gives it.
    assert weighted[10] / weighted[0] == pytest.approx(10 * balanced[10] / balanced[0])
    assert weighted[8] / weighted[0] == pytest.approx(balanced[8] / balanced[0])  # shared sources as before
    assert source_weights(sources[:10], 0.5, site_weight=10) == pytest.approx(balanced[:10] / balanced[:10].mean())
    only_shared = source_weights(sources[:10], 0, site_weight=10)
    assert only_shared is None  # nothing to weigh apart
    unbalanced = source_weights(sources, 0, site_weight=10)
    assert unbalanced[10] / unbalanced[0] == pytest.approx(10)


def _examples():
    out = []
    for v, video in enumerate(("Psy", "KatyPerry", "LMFAO")):
        for i in range(6):
            out.append(Example(f"video {video} comment {i}", "spam" if i % 2 else "ham", "youtube", group=video))
    out.append(Example("the same text everywhere", "spam", "youtube", group="Psy"))
    out.append(Example("The  same text everywhere\ufeff", "spam", "youtube", group="LMFAO"))
    for a in range(4):
        for i in range(3):
            out.append(Example(f"article {a} reader {i} says", "ham", "fox", group=f"article {a}"))
    for i in range(20):
        out.append(Example(f"sms number {i}", "spam" if i % 4 == 0 else "ham", "sms", group="sms"))
    return out


def test_protocol_folds_never_test_on_training_data():
    folds = protocols.make_folds(_examples(), folds=3)
    tested = []
    for fold in folds:
        train_keys = {e.text.casefold() for e in fold.train}
        assert not train_keys & {e.text.casefold() for e in fold.test}
        # A video or an article is wholly on one side of a fold.
        for source in ("youtube", "fox"):
            assert not {e.group for e in fold.train if e.source == source} & \
                {e.group for e in fold.test if e.source == source}
        tested += fold.test
    # Every example is tested exactly once; the duplicate across two videos was removed before splitting.
    assert len(tested) == len({e.text for e in tested}) == len(_examples()) - 1
    assert {e.group for e in tested if e.source == "youtube"} == {"Psy", "KatyPerry", "LMFAO"}


def test_site_adaptation_keeps_one_test_half_and_adds_nested_labels_from_the_other():
    examples = protocols.datasets.deduplicate(_examples())
    video = [e.text for e in examples if e.source == "youtube" and e.group == "LMFAO"]
    folds = protocols.site_adaptation(_examples(), "LMFAO", (0, 1, 2))
    assert [fold.index for fold in folds] == [0, 1, 2]
    test = [e.text for e in folds[0].test]
    assert test and all(fold.test == folds[0].test for fold in folds)  # the same test set for every size
    labelled = [[e for e in fold.train if e.source == protocols.ADAPTATION_SOURCE] for fold in folds]
    assert [len(found) for found in labelled] == [0, 1, 2]
    assert labelled[1] == labelled[2][:1]  # a larger set holds the smaller one
    assert set(test) | {e.text for e in labelled[2]} <= set(video) and not set(test) & {e.text for e in labelled[2]}
    for fold in folds:
        assert not {e.text.casefold() for e in fold.test} & {e.text.casefold() for e in fold.train}
        # Apart from its labels, the site's video is not trained on; the other videos, SMS and Fox are.
        assert not [e for e in fold.train if e.source == "youtube" and e.group == "LMFAO"]
        assert {e.source for e in fold.train} >= {"youtube", "fox", "sms"}
    with pytest.raises(ValueError, match="comments to label"):
        protocols.site_adaptation(_examples(), "LMFAO", (0, len(video)))
    with pytest.raises(ValueError, match="no comments of video"):
        protocols.site_adaptation(_examples(), "Eminem", (0,))


def test_adaptation_summary_takes_the_worst_video_each_way():
    from bench.adaptation import summary, table

    per_video = {"a": {"accuracy": 0.97, "roc_auc": 0.995, "spam_caught": 0.96, "ham_rejected": 0.0},
                 "b": {"accuracy": 0.95, "roc_auc": 0.999, "spam_caught": 0.99, "ham_rejected": 0.02}}
    row = summary(per_video)
    assert row["worst_accuracy"] == 0.95 and row["worst_roc_auc"] == 0.995
    assert row["worst_spam_caught"] == 0.96 and row["worst_ham_rejected"] == 0.02  # the highest is the worst
    assert row["mean_accuracy"] == 0.96
    text = table({(0, 10.0): row})
    assert "| 0 | - | 0.9500 ✗ / 0.9600 | 0.9950 / 0.9970 |" in text and "0.0200 ✗ / 0.0100" in text


def test_protocol_summary_on_a_perfect_scorer():
    class Oracle:
        def fit(self, texts, y, sources):
            self.spam = {t for t, label in zip(texts, y) if label}
            return self

        def score(self, texts):
            return np.array([0.99 if ("comment 1" in t or "comment 3" in t or "comment 5" in t or "everywhere" in t
                                      or t in {f"sms number {i}" for i in range(0, 20, 4)}) else 0.01
                             for t in texts])

        def thresholds(self):
            return {"spam_flag": 0.5, "spam_reject": 0.9}

    summary = protocols.summarise(protocols.run_folds(Oracle, protocols.make_folds(_examples(), folds=3)))
    s = summary["summary"]
    assert s["youtube_min_accuracy"] == 1.0 and s["youtube_min_roc_auc"] == 1.0
    assert s["fox_rejected"] == 0.0 and s["sms_accuracy"] == 1.0
    assert "| ours |" in protocols.table({"ours": s})
