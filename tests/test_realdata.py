"""The default model, trained on the full shared data exactly as `make setup` does, judged on data it never saw."""

import copy
import json
import shutil
import subprocess
import sys

import pytest

from moderation.registry import ModelRegistry
from service import create_app
from training import lifecycle
from training.evaluate import evaluate_model

pytestmark = pytest.mark.realdata

LEGIT_1500 = (
    "I have followed the Mosul campaign since the spring, and this report matches what relatives in Erbil tell "
    "us: families are leaving the villages south of the city as the army moves up from Qayyara, and many of "
    "them say the fighters are more nervous than before. What the article does not say is how the government "
    "plans to feed and shelter the people who will pour out of the city once the assault begins. The camps "
    "around Makhmour are already full, and aid groups have warned for months that they cannot cope with "
    "hundreds of thousands more. Retaking the airbase was important, but holding the territory and winning the "
    "trust of the residents is what will decide whether the group comes back in two years. The tribal leaders "
    "quoted here have every reason to talk up the uprising, and I would like to see independent reporting on "
    "that. Still, the minister's claim that the leaders have sold their belongings and fled towards Syria is "
    "plausible; the same thing happened in Fallujah before it fell. I hope the commanders take the warning about "
    "hostages seriously, because the civilians trapped in the old city have nowhere to go, and a long siege "
    "would be a disaster for them. Thank you for covering this in more depth than the wire services do, and "
    "please follow up on the humanitarian side once the offensive starts, with numbers from the UN agencies "
    "and not only from officials on either side of the front line. Good luck to everyone who is working there."
    " I will keep reading this site for more news."
)


@pytest.fixture(scope="module")
def default_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("default-models")
    result = subprocess.run([sys.executable, "-m", "training", "train", "--models", str(root)],
                            capture_output=True, text=True, check=True, timeout=900)
    version = result.stdout.strip().splitlines()[-1]
    registry = ModelRegistry(root)
    assert registry.current_version() == version
    return registry


def test_default_model_holds_on_held_out_data(default_registry):
    metrics = default_registry.metadata(default_registry.current_version())["metrics"]["evaluation"]
    overall, by_source = metrics["overall"], metrics["by_source"]
    assert overall["n"] > 1000
    assert overall["roc_auc"] >= 0.98
    assert overall["ece"] <= 0.05
    for source in ("youtube", "sms"):
        assert by_source[source]["at_spam_flag"]["recall"] >= 0.9, source
        assert by_source[source]["at_spam_reject"]["precision"] >= 0.95, source
    # Real news comments under two articles the model never trained on: almost none rejected.
    assert by_source["fox"]["n"] > 100
    assert by_source["fox"]["at_spam_reject"]["ham_rate"] <= 0.01
    assert by_source["fox"]["at_spam_flag"]["ham_rate"] <= 0.05


def test_evaluate_command_agrees_with_the_training_report(default_registry):
    report = evaluate_model(default_registry)
    stored = default_registry.metadata(default_registry.current_version())["metrics"]["evaluation"]
    assert report["overall"]["roc_auc"] == pytest.approx(stored["overall"]["roc_auc"], abs=1e-4)


def test_must_show_cases(default_registry, seed_article, tmp_path):
    client = create_app({"MODELS_DIR": str(default_registry.root),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}).test_client()
    shoe = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": seed_article}).get_json()
    assert shoe["decision"] in {"accept", "flag", "reject"} and 0 <= shoe["scores"]["spam"] <= 1
    assert shoe["model_version"] == default_registry.current_version()
    assert len(LEGIT_1500) == 1500
    answer = client.post("/v1/moderate", json={"text": LEGIT_1500, "article": seed_article}).get_json()
    assert answer["decision"] == "accept", json.dumps(answer)
    over = client.post("/v1/moderate", json={"text": LEGIT_1500 + "!"}).get_json()
    assert over["decision"] == "reject" and over["reasons"][0]["code"] == "too_long"
    spam = client.post("/v1/moderate", json={
        "text": "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel"}).get_json()
    assert spam["decision"] != "accept"
    explained = client.post("/v1/moderate", json={
        "text": "Win a FREE iPhone now!!! Click http://bit.ly/free-prize and subscribe to my channel",
        "explain": True}).get_json()
    assert explained["explanation"]["pushed_up"] and explained["decision"] == spam["decision"]


def test_real_news_comments_are_rarely_held_for_spam(default_registry):
    """Held-out Civil Comments (news sites) and Wikipedia talk comments: rejected and held for spam almost never."""
    by_source = default_registry.metadata(default_registry.current_version())["metrics"]["evaluation"]["by_source"]
    for source in ("civil", "wiki"):
        assert by_source[source]["n"] > 2000, source
        assert by_source[source]["at_spam_reject"]["ham_rate"] <= 0.002, source
        assert by_source[source]["at_spam_flag"]["ham_rate"] <= 0.02, source


ADVERTS = [
    "Visit bestessaywriters.net for cheap essays",
    "Thanks for sharing, very informative. Visit showbox,com",
    "Delta Airlines customer service number +1-888-555-0143, call now",
    "Need a loan? We offer loans at 2% interest, contact 1-800-555-0100",
    "buy cheap viagra online http://pillsrx-cheap.xyz",
]


def test_an_advert_added_to_a_real_news_comment_gets_it_held(default_registry):
    """Directional: real held-out news comments that are accepted become held with an advert at their end; the
    advert, not the comment, is what the model learnt."""
    from moderation.features import spam_scores
    from training import datasets, sources
    from training.train import load_training_examples

    model = default_registry.load(None)
    flag = model.metadata["thresholds"]["spam_flag"]
    _, evaluation = datasets.split(load_training_examples(sources.ensure_data()))
    hosts = [e.text for e in evaluation if e.source == "civil" and 10 <= len(e.text.split()) <= 60][:40]
    plain = spam_scores(model.spam, hosts)
    hosts = [h for h, s in zip(hosts, plain) if s < flag]
    assert len(hosts) >= 35
    for advert in ADVERTS:
        scores = spam_scores(model.spam, [f"{h} {advert}" for h in hosts])
        assert (scores >= flag).mean() >= 0.9, (advert, float((scores >= flag).mean()))


def test_generic_reactions_are_not_spam(default_registry):
    from moderation.features import spam_scores

    model = default_registry.load(None)
    reactions = ["Great article, thanks", "Good lord!", "So true.", "Well said.", "Interesting read.",
                 "Thanks for the update.", "Thanks for sharing, very informative."]
    assert (spam_scores(model.spam, reactions) < model.metadata["thresholds"]["spam_flag"]).all()


# Relevance on the default model.
SEED_ON_TOPIC = [
    "Good news. I hope the Iraqi army retakes Mosul before the end of the year.",
    "If ISIL leaders are already fleeing to Syria, the fighters left behind will not hold out for long.",
    "What happens to the civilians in Mosul if ISIL takes them hostage? The army has to plan for that.",
    "Retaking the Qayyara airbase was the turning point, now the forces can move north.",
    "I don't trust the defence minister, they said the same thing before Fallujah.",
    "The tribes around Mosul rising up against ISIL would change everything.",
]


def test_relevance_pairing_auc_on_held_out_articles(default_registry):
    report = default_registry.metadata(default_registry.current_version())["metrics"]["relevance"]
    assert report["train_articles"]["news"] == 8  # the two frozen evaluation articles are not trained on
    held = report["evaluation"]
    assert held["articles"] == 2 and held["pairs"] > 500
    assert held["auc_thread"] >= 0.85
    assert report["out_of_fold"]["auc_thread"] >= 0.83  # the grouped folds of the eight training articles


def test_on_topic_comments_on_the_seed_article_are_accepted(default_registry, seed_article, tmp_path):
    client = create_app({"MODELS_DIR": str(default_registry.root),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}).test_client()
    article = {"title": seed_article["title"], "body": seed_article["body"]}  # PUT takes title and body only
    assert client.put(f"/v1/articles/{seed_article['id']}", json=article).status_code == 201
    for text in SEED_ON_TOPIC:
        body = client.post("/v1/moderate", json={"text": text, "article": {"id": seed_article["id"]}}).get_json()
        assert body["decision"] == "accept" and body["scores"]["off_topic"] < 0.5, (text, body)
    generic = client.post("/v1/moderate", json={"text": "Great article, thanks",
                                                "article": {"id": seed_article["id"]}}).get_json()
    assert generic["decision"] != "reject" and generic["scores"]["off_topic"] is not None


SEED_SHORT_ON_TOPIC = ["Mosul will be free soon", "Good news for the people of Iraq", "ISIL is finished",
                       "Go Iraqi army!", "Pray for Mosul"]
SEED_GENERIC = ["Great article, thanks", "Thanks for sharing", "Well said"]


def test_short_comment_path_on_the_seed_article(default_registry, seed_article, tmp_path):
    """Short on-topic comments are accepted and generic ones not flagged; the short regime has its own threshold."""
    metadata = default_registry.metadata(default_registry.current_version())
    short = metadata["metrics"]["relevance"]["short_out_of_fold"]
    assert 0.5 <= metadata["thresholds"]["short_off_topic_flag"] < 1
    assert short["thread_relevant_flagged"] <= 0.12  # own-article short comments with their discussion
    assert short["foreign_flagged"] > short["thread_relevant_flagged"]  # out-of-domain chat is flagged more
    # Real short comments of the held-out folds' articles, moved under an article that has none of the words tying
    # them to their own: told from short comments under their own article, and flagged more often.
    assert short["moved"] > 100 and short["auc_moved_thread"] >= 0.65 and short["auc_moved_article"] >= 0.65
    assert short["moved_flagged"] > 2 * short["thread_relevant_flagged"]
    client = create_app({"MODELS_DIR": str(default_registry.root),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}).test_client()
    for text in SEED_SHORT_ON_TOPIC + SEED_GENERIC:
        body = client.post("/v1/moderate", json={"text": text, "article": seed_article}).get_json()
        assert body["decision"] == "accept", (text, body)
    chat = client.post("/v1/moderate", json={"text": "My cat is sleeping", "article": seed_article}).get_json()
    generic = client.post("/v1/moderate", json={"text": "Great article, thanks", "article": seed_article}).get_json()
    assert chat["scores"]["off_topic"] > generic["scores"]["off_topic"]
    # "cat" and "sleeping" are words of comments on any subject (the generic vocabulary): a comment made only of
    # such words is a generic reaction, never held for relevance, whatever its score.
    assert chat["decision"] == "accept", chat
    # Short chat with a word the battle report does not support is held for review with reason off_topic.
    for text in ("Pizza tastes good", "Nice shoes"):
        body = client.post("/v1/moderate", json={"text": text, "article": seed_article}).get_json()
        assert body["decision"] == "flag" and "off_topic" in [r["code"] for r in body["reasons"]], body


def test_seed_short_comment_is_flagged_off_topic(default_registry, seed_article, tmp_path):
    """The product decision: a short top-level comment whose words find no support in the article or its
    discussion, and which is not a generic reaction, is held with an off_topic reason a moderator understands."""
    client = create_app({"MODELS_DIR": str(default_registry.root),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}).test_client()
    shoe = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": seed_article}).get_json()
    assert shoe["decision"] == "flag"
    [reason] = [r for r in shoe["reasons"] if r["code"] == "off_topic"]
    assert reason["message"].startswith("A short comment (3 words) whose words ('shoe', 'level', 'lies') appear "
                                        "nowhere"), reason
    # The same words answering another comment: a reply is not judged by the rule, only by its short-comment score.
    reply = client.post("/v1/moderate", json={"text": "Shoe level lies.", "article": seed_article,
                                              "parent_text": "Which shoe brand lies about its level of comfort?"})
    assert reply.get_json()["decision"] == "accept", reply.get_json()


@pytest.mark.parametrize("text", ["Great article, thanks", "Good lord!", "So true.", "Well said.", "Interesting read.",
                                  "Thanks for the update."])
def test_generic_reactions_are_accepted_under_the_seed_article(default_registry, seed_article, tmp_path, text):
    client = create_app({"MODELS_DIR": str(default_registry.root),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}).test_client()
    body = client.post("/v1/moderate", json={"text": text, "article": seed_article}).get_json()
    assert body["decision"] == "accept", body
    assert "off_topic" not in [r["code"] for r in body["reasons"]], body


def test_the_gate_refuses_a_candidate_whose_relevance_got_worse(default_registry, tmp_path):
    """A retrained relevance model never goes live silently worse, even when moderators gave no off_topic labels:
    the gate scores both models on the held-out news articles' own-vs-other-article pairs."""
    shutil.copytree(default_registry.root, tmp_path / "models")
    registry = ModelRegistry(tmp_path / "models")
    live = registry.load()
    relevance = copy.deepcopy(live.relevance)
    for combiner in relevance.combiner.values():  # a relevance model that ranks backwards
        combiner.named_steps["logistic"].coef_ = -combiner.named_steps["logistic"].coef_
    metadata = {k: v for k, v in live.metadata.items() if k not in ("version", "created_at", "sha256")}
    candidate = registry.save({**live.artifact, "relevance": relevance}, metadata)
    with pytest.raises(lifecycle.GateRefused) as refused:
        lifecycle.promote(registry, candidate, None)
    checks = refused.value.result.checks
    assert checks["relevance_pairing_auc"]["live"] >= 0.8
    assert checks["relevance_pairing_auc"]["verdict"] == "WORSE"
    assert checks["spam_auc"]["verdict"] == "ok"
    assert registry.current_version() == live.version
    # The unchanged model passes the same checks.
    same = registry.save(dict(live.artifact), metadata)
    result = lifecycle.promote(registry, same, None)
    assert result.passed and result.checks["news_off_topic_flagged"]["verdict"] == "ok"
