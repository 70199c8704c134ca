"""Site rules wherever a decision is made: /v1/moderate, the batch, the Akismet adapter, rescore; bad settings."""

import json

import pytest
from click.testing import CliRunner

from moderation.site_rules import SiteRulesError
from service import create_app
from training.__main__ import cli


@pytest.fixture()
def lists(tmp_path):
    banned = tmp_path / "banned.txt"
    banned.write_text("# court order 2026-114\nJohn Doe\nshit\nidiot*\n", encoding="utf-8")
    suspect = tmp_path / "suspect.txt"
    suspect.write_text("rivalpaper\n", encoding="utf-8")
    return banned, suspect


def make_app(tiny_registry, tmp_path, **config):
    return create_app({"TESTING": True, "MODELS_DIR": str(tiny_registry.root),
                       "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", **config})


@pytest.fixture()
def site_client(tiny_registry, tmp_path, lists):
    banned, suspect = lists
    app = make_app(tiny_registry, tmp_path, BANNED_WORDS=str(banned), SUSPECT_WORDS=str(suspect),
                   LINKS_ACTION="flag", LINKS_MIN=1, ALLOWED_LINK_DOMAINS="example.com")
    return app.test_client()


def moderate(client, text):
    response = client.post("/v1/moderate", json={"text": text})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_reason_appears_with_its_configured_action(site_client):
    banned = moderate(site_client, "The article about j0hn   d.o.e is full of sh1t")
    assert banned["decision"] == "reject"
    assert [r["code"] for r in banned["reasons"]] == ["banned_word"]
    assert '"John Doe"' in banned["reasons"][0]["message"] and '"shit"' in banned["reasons"][0]["message"]
    assert 0 <= banned["scores"]["spam"] <= 1  # the scores are still reported
    suspect = moderate(site_client, "I read the same story in the RivalPaper yesterday, better written.")
    assert suspect["decision"] == "flag" and [r["code"] for r in suspect["reasons"]] == ["suspect_word"]
    assert '"rivalpaper"' in suspect["reasons"][0]["message"]
    links = moderate(site_client, "The council's minutes are at http://minutes-archive.org/2026 for anyone curious.")
    assert "links" in [r["code"] for r in links["reasons"]] and links["decision"] in ("flag", "reject")
    assert "minutes-archive.org" in links["reasons"][0]["message"]
    own = moderate(site_client, "Your earlier report www.example.com/news/council-vote said the opposite.")
    assert "links" not in [r["code"] for r in own["reasons"]]  # the site's own domain
    clean = moderate(site_client, "A classic case of the council passing the buck, as usual.")
    assert not {"banned_word", "suspect_word", "links"} & {r["code"] for r in clean["reasons"]}


def test_configured_actions_and_the_default_is_off(tiny_registry, tmp_path, lists):
    banned, suspect = lists
    text = "Full of shit, see rivalpaper at http://rival.biz/story"
    plain = moderate(make_app(tiny_registry, tmp_path).test_client(), text)
    assert not {"banned_word", "suspect_word", "links"} & {r["code"] for r in plain["reasons"]}
    app = make_app(tiny_registry, tmp_path, BANNED_WORDS=str(banned), BANNED_WORD_ACTION="flag",
                   SUSPECT_WORDS=str(suspect), SUSPECT_WORD_ACTION="reject", LINKS_ACTION="reject", LINKS_MIN=2,
                   SPAM_FLAG=1.0, SPAM_REJECT=1.0)
    result = moderate(app.test_client(), text)
    assert result["decision"] == "reject"
    assert [r["code"] for r in result["reasons"]] == ["banned_word", "suspect_word"]  # 1 link, under LINKS_MIN
    two = moderate(app.test_client(), "Compare http://rival.biz/a with http://other.net/b please")
    assert [r["code"] for r in two["reasons"]] == ["links"] and two["decision"] == "reject"
    assert "2 links" in two["reasons"][0]["message"]
    model = app.test_client().get("/v1/model").get_json()
    assert model["policy"]["site"]["links_min"] == 2 and model["policy"]["site"]["banned_words"]["entries"] == 3


def test_batch_and_akismet_apply_the_same_rules(site_client):
    body = {"comments": [{"id": 1, "text": "what an idiotic take"}, {"id": 2, "text": "Thoughtful piece, thanks."}]}
    results = site_client.post("/v1/moderate/batch", json=body).get_json()["results"]
    assert results[0]["decision"] == "reject" and results[0]["reasons"][0]["code"] == "banned_word"
    assert not any(r["code"] == "banned_word" for r in results[1]["reasons"])
    response = site_client.post("/1.1/comment-check", data={"comment_content": "rivalpaper said it first"})
    assert response.data == b"true" and "suspect_word" in response.headers["X-Moderation-Reasons"]
    response = site_client.post("/1.1/comment-check", data={"comment_content": "s h i t article"})
    assert response.headers["X-akismet-pro-tip"] == "discard"
    assert response.headers["X-Moderation-Reasons"].startswith("banned_word")


def test_flagged_for_a_suspect_word_enters_the_review_queue(site_client, app):
    moderate(site_client, "rivalpaper had it first")
    queue = site_client.application.extensions["store"].review_queue(limit=10)
    assert queue and queue[0]["reasons"][0]["code"] == "suspect_word"


@pytest.mark.parametrize("config, message", [
    ({"BANNED_WORD_ACTION": "delete"}, "banned_word_action must be one of accept, flag, reject"),
    ({"BANNED_WORDS": "/nonexistent/banned.txt"}, "cannot read the word list"),
    ({"LINKS_MIN": "many"}, "links_min must be a whole number"),
])
def test_a_bad_configuration_stops_the_start(tiny_registry, tmp_path, config, message):
    with pytest.raises(SiteRulesError, match=message):
        make_app(tiny_registry, tmp_path, **config)


def test_an_empty_pattern_stops_the_start(tiny_registry, tmp_path):
    bad = tmp_path / "banned.txt"
    bad.write_text("shit\n***\n")
    with pytest.raises(SiteRulesError, match=r"banned.txt line 2: .*'\*' is only allowed at the end"):
        make_app(tiny_registry, tmp_path, BANNED_WORDS=str(bad))
    bad.write_text("shit\n  !! \n")
    with pytest.raises(SiteRulesError, match="line 2: .*empty pattern"):
        make_app(tiny_registry, tmp_path, BANNED_WORDS=str(bad))


def test_the_environment_configures_the_service(tiny_registry, tmp_path, lists, monkeypatch):
    banned, _ = lists
    monkeypatch.setenv("MODERATION_MODELS_DIR", str(tiny_registry.root))
    monkeypatch.setenv("MODERATION_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    monkeypatch.setenv("MODERATION_BANNED_WORDS", str(banned))
    monkeypatch.setenv("MODERATION_LINKS_ACTION", "flag")
    monkeypatch.setenv("MODERATION_LINKS_MIN", "2")
    monkeypatch.setenv("MODERATION_ALLOWED_LINK_DOMAINS", "example.com,example.org")
    site = create_app().extensions["site_rules"]
    assert site.banned.entries == ("John Doe", "shit", "idiot*") and site.links_min == 2
    assert site.allowed_domains == ("example.com", "example.org")
    monkeypatch.setenv("MODERATION_SUSPECT_WORD_ACTION", "hold")
    with pytest.raises(SiteRulesError, match="suspect_word_action"):
        create_app()


def test_rescore_replays_old_comments_under_a_new_list(tiny_registry, tmp_path, lists, monkeypatch):
    banned, _ = lists
    source = tmp_path / "old.jsonl"
    texts = ["Great reporting, thanks", "this idiot mayor again", "John Doe should resign", "Fair point about taxes"]
    source.write_text("".join(json.dumps({"id": i, "text": t, "decision": "accept"}) + "\n"
                              for i, t in enumerate(texts)))
    out = tmp_path / "new.jsonl"
    monkeypatch.setenv("MODERATION_BANNED_WORDS", str(banned))  # the service's variable, read by rescore too
    result = CliRunner().invoke(cli, ["rescore", "--models", str(tiny_registry.root), "--input", str(source),
                                      "--output", str(out), "--workers", "2", "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    for i in (1, 2):
        assert rows[i]["decision"] == "reject" and rows[i]["reasons"][0]["code"] == "banned_word"
    for i in (0, 3):
        assert not any(r["code"] == "banned_word" for r in rows[i]["reasons"])
    changed = [json.loads(line) for line in (tmp_path / "new.jsonl.changed.jsonl").read_text().splitlines()]
    assert {c["id"] for c in changed} >= {1, 2}
    summary = json.loads(result.stdout)
    assert summary["change_matrix"]["accept"]["reject"] >= 2
    bad = CliRunner().invoke(cli, ["rescore", "--models", str(tiny_registry.root), "--input", str(source),
                                   "--output", str(out), "--links-action", "hold"])
    assert bad.exit_code == 2 and "links_action must be one of" in bad.output


def test_word_lists_are_reloaded_when_their_file_changes(tiny_registry, tmp_path, lists):
    banned, suspect = lists
    app = make_app(tiny_registry, tmp_path, BANNED_WORDS=str(banned), SUSPECT_WORDS=str(suspect))
    client, watcher = app.test_client(), app.extensions["site_rules_watcher"]
    assert not any(r["code"] == "banned_word" for r in moderate(client, "the mayor is a buffoon")["reasons"])
    assert watcher.poll() is False  # nothing changed
    fresh = tmp_path / "banned.new"
    fresh.write_text("buffoon\n")
    fresh.replace(banned)  # a finished file renamed over the list
    assert watcher.poll() is True
    result = moderate(client, "the mayor is a buffoon")
    assert result["decision"] == "reject" and '"buffoon"' in result["reasons"][0]["message"]
    assert not any(r["code"] == "banned_word" for r in moderate(client, "full of shit")["reasons"])
    banned.write_text("buffoon\n***\n")  # a bad edit: refused, the rules in force keep applying
    assert watcher.poll() is False
    assert moderate(client, "the mayor is a buffoon")["decision"] == "reject"
    assert "line 2" in client.get("/v1/model").get_json()["site_rules_error"]
    banned.write_text("buffoon\nclown\n")
    assert watcher.poll() is True and "site_rules_error" not in client.get("/v1/model").get_json()
    assert moderate(client, "what a clown")["reasons"][0]["code"] == "banned_word"


def test_openapi_lists_the_reason_codes(client):
    codes = client.get("/openapi.json").get_json()["components"]["schemas"]["Reason"]["properties"]["code"]["enum"]
    assert {"links", "banned_word", "suspect_word", "repeat", "empty", "too_long", "spam", "off_topic",
            "wave_decided", "toxic"} == set(codes)


def test_rescore_resume_refuses_a_changed_word_list(tiny_registry, tmp_path, lists):
    from moderation.policy import model_policy
    from moderation.registry import ModelRegistry
    from moderation.site_rules import SiteRules
    from training.rescore import CHECKPOINT_VERSION, RescoreError, RescoreOptions, _Paths, rescore
    from training.rescore_io import Source

    banned, _ = lists
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in
                              enumerate(["a fine piece", "this idiot again", "thanks for the report"])))
    out = tmp_path / "out.jsonl"
    rules = SiteRules.from_settings(banned_words=str(banned))
    registry = ModelRegistry(tiny_registry.root)
    version = registry.current_version()
    policy = model_policy(registry.verify(version)).with_overrides(site=rules)
    paths = _Paths.for_output(out)
    paths.work.mkdir(parents=True)
    header = {"kind": "header", "format": CHECKPOINT_VERSION, "source": Source(source).fingerprint(),
              "model_version": version, "policy": policy.to_dict(), "thread_size": 20, "thread_chars": 500,
              "errors_file": str(paths.errors.resolve()), "chunk_size": 2000}
    paths.checkpoint.write_text(json.dumps(header) + "\n")  # a run interrupted before its first commit
    banned.write_text("shit\n")  # the list changed meanwhile
    changed = SiteRules.from_settings(banned_words=str(banned))
    opts = dict(models_dir=tiny_registry.root, workers=1, progress=False, resume=True)
    with pytest.raises(RescoreError, match="cannot resume: policy changed"):
        rescore(Source(source), out, RescoreOptions(**opts, site_rules=changed))
    with pytest.raises(RescoreError, match="cannot resume: policy changed"):
        rescore(Source(source), out, RescoreOptions(**opts))  # nor without the rules it started with
    rescore(Source(source), out, RescoreOptions(**opts, site_rules=rules))  # the same rules: it carries on
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[1]["decision"] == "reject" and rows[1]["reasons"][0]["code"] == "banned_word"  # "idiot*"
