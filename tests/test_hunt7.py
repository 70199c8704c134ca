"""The seventh session's bug hunt: each test failed before its fix (coral, policy settings, review page, CLI)."""

from __future__ import annotations

import pytest

from service import create_app

ADMIN = {"Authorization": "Bearer admin-key"}


def _app(tiny_registry, tmp_path, **config):
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


@pytest.mark.parametrize("path,form", [("/review/login", {"key": "admin-key"}),
                                       ("/review/1", {"action": "accept"}),
                                       ("/review/pause", {"reason": "spam"}),
                                       ("/review/logout", {})])
def test_a_csrf_token_with_non_ascii_characters_is_a_400_not_a_500(tiny_registry, tmp_path, path, form):
    """hmac.compare_digest refuses str with non-ASCII characters (TypeError): a forged token like "é" was a 500."""
    app = _app(tiny_registry, tmp_path, ADMIN_KEYS="admin-key")
    client = app.test_client()
    client.get("/review")  # a session with a token
    for forged in ("é", "\u2603" * 43):
        response = client.post(path, data={**form, "csrf": forged}, headers=ADMIN)
        assert response.status_code == 400, (path, response.status_code)


def test_two_pauses_clicked_at_once_on_two_workers_both_hold(tiny_registry, tmp_path):
    """Each button reads the settings in force, adds its reason and writes the whole set. Two moderators clicking
    at once (two workers, one store) both read the same row: one pause was lost, though both pages said "paused".
    The two reads are forced to happen together here; the read and the write must be one locked step."""
    import threading

    workers = [_app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0) for _ in range(2)]
    assert workers[0].test_client().post("/v1/moderate", json={"text": "held for review"}).json["decision"] == "flag"
    together = threading.Barrier(2, timeout=2)
    for app in workers:
        store = app.extensions["store"]
        read = store.latest_policy_settings

        def latest(read=read):
            try:
                together.wait()
            except threading.BrokenBarrierError:
                pass
            return read()
        store.latest_policy_settings = latest
    clients = [app.test_client() for app in workers]
    tokens = [_csrf(client.get("/review").get_data(as_text=True)) for client in clients]
    answers = []

    def click(client, token, reason):
        answers.append(client.post("/review/pause", data={"reason": reason, "csrf": token}).status_code)
    threads = [threading.Thread(target=click, args=(client, token, reason))
               for client, token, reason in zip(clients, tokens, ("spam", "links"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [303, 303]
    history = workers[0].test_client().get("/v1/policy").json["history"]
    assert len(history) == 2
    assert history[0]["settings"] == {"paused": ["links", "spam"]}


def count_changes_at_once(url: str) -> int:
    """Four threads on two stores (two workers) each make 10 read-modify-write changes: the count that holds."""
    import threading
    import time

    from moderation.store import Store

    stores = [Store(url), Store(url)]

    def bump(settings):
        time.sleep(0.002)  # between the read and the write: where another worker's change would slip in
        return {**settings, "paused": ["spam"], "n": settings.get("n", 0) + 1}

    def run(store):
        for _ in range(10):
            store.change_policy_settings(bump, "count", None)
    threads = [threading.Thread(target=run, args=(store,)) for store in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        return stores[0].latest_policy_settings()["settings"]["n"]
    finally:
        for store in stores:
            store.engine.dispose()


def test_changes_of_the_settings_in_force_made_at_once_all_count_on_sqlite(tmp_path):
    assert count_changes_at_once(f"sqlite:///{tmp_path / 'moderation.db'}") == 40


def test_an_off_topic_reject_threshold_below_the_flag_one_is_refused_as_the_spam_one_is(tiny_registry, tmp_path):
    """off_topic_reject 0.1 with off_topic_flag 0.9 was recorded and rejected everything from 0.1: the flag
    threshold set in the same change never applied. The README says a reject below the flag threshold is refused."""
    app = _app(tiny_registry, tmp_path)
    client = app.test_client()
    flag = app.extensions["moderator"].policy.off_topic_flag
    wrong = client.put("/v1/policy", json={"settings": {"off_topic_flag": 0.9, "off_topic_reject": 0.1}, "note": "x"})
    assert wrong.status_code == 422 and "off_topic_reject" in wrong.json["error"]["message"]
    below_model = client.put("/v1/policy", json={"settings": {"off_topic_reject": flag / 2}, "note": "x"})
    assert below_model.status_code == 409, below_model.json
    assert below_model.json["error"]["code"] == "conflicts_with_model"
    assert client.get("/v1/policy").json["history"] == []
    ok = client.put("/v1/policy", json={"settings": {"off_topic_flag": 0.5, "off_topic_reject": 0.5}, "note": "x"})
    assert ok.status_code == 200


def _cli(*args):
    from click.testing import CliRunner

    from training.__main__ import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_rescore_reads_a_csv_with_a_byte_order_mark_before_a_quoted_header(tiny_registry, tmp_path):
    """Excel's "CSV UTF-8" and pandas' utf-8-sig start with a BOM; with a quoted header the BOM sat before the
    quote, the header read as '\\ufeff"id"' and not one row was scored (exit 0)."""
    source = tmp_path / "old.csv"
    source.write_bytes('\ufeff"id","text"\n"a","Nice, balanced piece"\n"b","Visit www.cheap-pills.ru now"\n'
                       .encode("utf-8"))
    out = tmp_path / "new.jsonl"
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in map(__import__("json").loads, out.read_text().splitlines())] == ["a", "b"]


@pytest.mark.parametrize("name,content", [
    ("old.csv", b"comment_id,body\n1,hello\n"),  # no id and text columns
    ("old.csv", b'id,"text\n1,hello\n'),  # an unreadable header (an open quote)
    ("old.csv", b""),  # no header at all (an export that failed): a header-only file is an empty input
    ("old.parquet", b"not a parquet file\n"),
    ("old.parquet", b""),
])
def test_rescore_of_an_input_it_cannot_read_as_a_whole_exits_non_zero_with_one_line(tiny_registry, tmp_path,
                                                                                    name, content):
    """A CSV without the id and text columns exited 0 with every row unscored (the header an error row); a file
    that is not Parquet ended in pyarrow's traceback. Both are the input as a whole: exit 2 and one line, as a
    Parquet file or a table without the columns already was."""
    source = tmp_path / name
    source.write_bytes(content)
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(source) in lines[0], result.output
    assert [p.name for p in tmp_path.iterdir()] == [name]  # refused before any file of the run was made


@pytest.mark.parametrize("url", ["nosuchdialect://host/db", "not a url", "mysql://user@localhost/db"])
def test_rescore_input_sql_with_a_url_it_cannot_use_exits_non_zero_with_one_line(tiny_registry, tmp_path, url):
    """A URL SQLAlchemy cannot parse, an unknown dialect or a missing driver ended in a traceback (exit 1)."""
    result = _cli("rescore", "--models", tiny_registry.root, "--input-sql", url, "--table", "comments",
                  "--output", tmp_path / "new.jsonl", "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use --input-sql"), result.output


def test_rescore_input_sql_with_a_table_that_does_not_exist_says_so(tiny_registry, tmp_path):
    result = _cli("rescore", "--models", tiny_registry.root, "--input-sql", f"sqlite:///{tmp_path / 'old.db'}",
                  "--table", "comments", "--output", tmp_path / "new.jsonl", "--workers", 1, "--no-progress")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: no table 'comments' in sqlite:///{tmp_path / 'old.db'}"], result.output


def _interrupted_run(registry_root, tmp_path, rows=300, stop_at=150):
    """A run of `rows` comments stopped (as by Ctrl-C) at input record `stop_at` of its second pass."""
    import json

    from training.rescore import RescoreInterrupted, RescoreOptions, rescore
    from training.rescore_io import Source

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"comment number {i} about the budget vote"}) + "\n"
                              for i in range(rows)))

    class Stopping(Source):
        passes = 0

        def records(self):
            Stopping.passes += 1
            for n, record in enumerate(super().records()):
                if Stopping.passes == 2 and n == stop_at:
                    raise KeyboardInterrupt
                yield record
    out = tmp_path / "new.jsonl"
    with pytest.raises(RescoreInterrupted):
        rescore(Stopping(source), out, RescoreOptions(models_dir=registry_root, chunk_size=20, workers=1,
                                                      progress=False))
    return source, out


@pytest.fixture()
def two_versions(tiny_registry, tmp_path):
    """A copy of the tiny registry with a second version (a copy of the first), the first one live."""
    import shutil

    from moderation.registry import ModelRegistry

    root = tmp_path / "models"
    shutil.copytree(tiny_registry.root, root)
    registry = ModelRegistry(root)
    first = registry.current_version()
    shutil.copytree(root / first, root / "20990101-000000-second")
    return registry, first, "20990101-000000-second"


def test_resume_after_a_promotion_keeps_the_interrupted_run_s_model_for_every_row(two_versions, tmp_path):
    import json

    registry, first, second = two_versions
    source, out = _interrupted_run(registry.root, tmp_path)
    registry.set_current(second, reason="test")
    result = _cli("rescore", "--models", registry.root, "--input", source, "--output", out, "--resume",
                  "--workers", 1, "--no-progress", "--chunk-size", 20)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 300 and {r["model_version"] for r in rows} == {first}
    (tmp_path / "again").mkdir()
    refused = _interrupted_run(registry.root, tmp_path / "again")
    asked = _cli("rescore", "--models", registry.root, "--input", refused[0], "--output", refused[1], "--resume",
                 "--model", first, "--workers", 1, "--no-progress")
    assert asked.exit_code == 2 and "cannot resume: model_version changed" in asked.output


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_when_the_interrupted_run_s_model_is_gone_exits_non_zero_with_one_line(two_versions, tmp_path,
                                                                                     workers):
    """The run's version was pruned (or no longer verifies) before --resume: with worker processes the run ended
    in BrokenProcessPool's traceback (exit 1); in this process, with the registry's message but no word of why."""
    import shutil

    from training import rescore as rescore_module

    registry, first, second = two_versions
    source, out = _interrupted_run(registry.root, tmp_path)
    registry.set_current(second, reason="test")
    shutil.rmtree(registry.root / first)
    rescore_module._MODERATORS.clear()  # as a new process: the interrupted run's model is not in memory
    result = _cli("rescore", "--models", registry.root, "--input", source, "--output", out, "--resume",
                  "--workers", workers, "--no-progress", "--chunk-size", 20)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot resume") and first in lines[0], result.output
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ("export-feedback", "--output", "{tmp}/labels.jsonl"),
    ("prune", "--older-than", "30"),
    ("train", "--with-feedback", "--models", "{tmp}/models"),
    ("deliver-reviews", "--url", "http://127.0.0.1:9/hook", "--secret-file", "{tmp}/secret", "--once"),
])
@pytest.mark.parametrize("database", ["sqlite:///{tmp}/typo/moderation.db", "bogus://host/db",
                                      "postgresql+psycopg://u@/db?host={tmp}/no-server"])
def test_a_store_the_cli_cannot_open_is_one_error_line_and_nothing_is_created(tmp_path, args, database):
    """A typo in --database made a new empty SQLite store (and its folders) and went on: prune said 0 deleted,
    export-feedback wrote 0 labels, train --with-feedback trained without the moderators' labels, all exit 0. A
    URL of an unknown database or a server that is down ended in SQLAlchemy's traceback (exit 1)."""
    (tmp_path / "secret").write_text("a shared secret of enough bytes\n")
    database = database.format(tmp=tmp_path)
    result = _cli(*[a.format(tmp=tmp_path) for a in args], "--database", database)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and not (tmp_path / "typo").exists()
    assert not (tmp_path / "labels.jsonl").exists()


@pytest.mark.parametrize("name,content", [
    ("labels.csv", b"text,label\n\xff\xfe not UTF-8,spam\n"),
    ("labels.jsonl", b'{"text": "caf\xe9", "label": "ham"}\n'),
    ("labels.csv", b""),
    ("labels.csv", b"text,label\n"),
    ("labels.jsonl", b"\n"),
])
def test_train_with_a_data_file_it_cannot_use_exits_non_zero_with_one_line(tmp_path, name, content):
    """Invalid UTF-8 in --data ended in a UnicodeDecodeError traceback; an empty file (an export that failed) was
    trained on silently - a model without the labels it was asked to learn, exit 0."""
    data = tmp_path / name
    data.write_bytes(content)
    result = _cli("train", "--models", tmp_path / "models", "--data", data, "--no-promote")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    errors = [line for line in result.output.splitlines() if not line.startswith("INFO ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {data}"), result.output
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.parametrize("name,content", [
    ("labels.csv", '\ufefftext,label\n"Cheap pills, click",spam\n'),
    ("labels.csv", '\ufeff"text","label"\n"Cheap pills, click","spam"\n'),
    ("labels.jsonl", '\ufeff{"text": "Cheap pills, click", "label": "spam"}\n'),
])
def test_a_labelled_file_with_a_byte_order_mark_is_read(tmp_path, name, content):
    """Excel's "CSV UTF-8" starts with a BOM: the first column was '\\ufefftext' and the file was refused with
    "a row needs a 'text' string"."""
    from training import datasets

    data = tmp_path / name
    data.write_text(content, encoding="utf-8")
    assert [(e.text, e.label) for e in datasets.load_labelled(data)] == [("Cheap pills, click", "spam")]


def test_rescore_reads_json_lines_with_a_byte_order_mark(tiny_registry, tmp_path):
    """The first line of a JSON lines file with a BOM was an error row ("Unexpected UTF-8 BOM")."""
    import json

    source = tmp_path / "old.jsonl"
    source.write_text('\ufeff{"id": 1, "text": "hello"}\n{"id": 2, "text": "hi"}\n', encoding="utf-8")
    out = tmp_path / "new.jsonl"
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("input_name,output_name", [("old.jsonl", "old.jsonl"),
                                                   ("new.jsonl.errors.jsonl", "new.jsonl"),
                                                   ("new.jsonl.summary.json", "new.jsonl")])
def test_rescore_refuses_an_output_that_would_overwrite_its_input(tiny_registry, tmp_path, input_name,
                                                                  output_name):
    """--output the same file as --input replaced the archive of old comments with the result at the end of the
    run (exit 0, the input gone). The errors, changed and summary files next to the output must not be the input
    either."""
    source = tmp_path / input_name
    original = '{"id": 1, "text": "hello there"}\n{"id": 2, "text": "buy cheap pills now"}\n'
    source.write_text(original)
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / output_name,
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "input" in lines[0], result.output
    assert source.read_text() == original


def test_rescore_to_an_output_folder_it_cannot_create_exits_non_zero_with_one_line(tiny_registry, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    source = tmp_path / "old.csv"
    source.write_text("id,text\n1,hello there\n")
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", blocker / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(blocker) in lines[0], result.output


def test_a_poll_that_read_the_settings_before_a_change_does_not_undo_it(tiny_registry, tmp_path):
    """The polling thread reads the newest row, then applies it. A change recorded and applied by a request of the
    same worker in between was undone by that stale apply: the worker that took the click went back to the old
    settings until its next poll."""
    from service.policy_settings import PolicySettingsWatcher

    app = _app(tiny_registry, tmp_path, SPAM_FLAG=0.0, SPAM_REJECT=1.0)
    client = app.test_client()
    store = app.extensions["store"]
    watcher = PolicySettingsWatcher(app, 60.0)
    stale = store.latest_policy_settings()  # None: what the poll read just before the click
    assert client.put("/v1/policy", json={"settings": {"paused": ["spam"]}, "note": "runaway"}).status_code == 200
    store.latest_policy_settings = lambda: stale
    watcher.poll()
    assert app.extensions["moderator"].policy.paused == ("spam",)
    assert client.post("/v1/moderate", json={"text": "An ordinary comment."}).json["decision"] == "accept"


def test_a_word_list_reloaded_while_a_new_model_loads_is_not_lost(two_versions, tmp_path):
    """The model watcher builds the new version's policy from the site rules in force, then swaps the moderator.
    A word list reloaded in between went to the old moderator only: the new one served the old list until the
    file changed again (the site rules watcher had seen the change). The same for policy settings changed then."""
    import service.engine as engine

    registry, first, second = two_versions
    banned = tmp_path / "banned.txt"
    banned.write_text("buffoon\n")
    app = _app(registry, tmp_path, BANNED_WORDS=str(banned))
    client = app.test_client()
    load = engine.load_moderator

    def load_then_the_list_changes(app_, version=None):
        moderator = load(app_, version)  # built with the list in force: "buffoon"
        fresh = tmp_path / "banned.new"
        fresh.write_text("buffoon\nclown\n")
        fresh.replace(banned)
        assert app.extensions["site_rules_watcher"].poll() is True
        assert client.put("/v1/policy", json={"settings": {"paused": ["links"]}, "note": "meanwhile"}).status_code \
            == 200
        return moderator
    engine.load_moderator = load_then_the_list_changes
    try:
        registry.set_current(second, reason="test")
        assert app.extensions["model_watcher"].poll() == second
    finally:
        engine.load_moderator = load
    assert app.extensions["moderator"].version == second
    assert app.extensions["moderator"].policy.paused == ("links",)
    answer = client.post("/v1/moderate", json={"text": "what a clown"}).json
    assert answer["model_version"] == second and answer["decision"] == "reject", answer


@pytest.mark.parametrize("version", ["", "  "])
def test_promote_of_an_empty_version_is_refused_before_the_gate_runs(two_versions, version):
    """`promote "$NEW"` with NEW unset loaded the live model as the candidate, ran the whole gate against itself
    (a minute, a table of figures) and only then failed to make "" live."""
    registry, first, _ = two_versions
    result = _cli("promote", "--models", registry.root, version)
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: give the version to promote (it is empty)"], result.output
    assert registry.current_version() == first


@pytest.mark.parametrize("url,state", [("http://127.0.0.1:9/hook", "{tmp}/file/state.json"),
                                       ("http://", None), ("https://[::1/hook", None), ("http:///path", None)])
def test_deliver_reviews_with_a_state_file_or_url_it_cannot_use_exits_non_zero_with_one_line(tmp_path, url, state):
    """A --state folder that cannot be made ended in a traceback; a URL without a host ("http://", an unclosed
    IPv6 bracket) was accepted, and with events pending would have failed every attempt until --max-wait."""
    from moderation.store import Store

    database = f"sqlite:///{tmp_path / 'moderation.db'}"
    Store(database).dispose()
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "secret").write_text("a shared secret of enough bytes\n")
    args = ["deliver-reviews", "--database", database, "--url", url, "--secret-file", tmp_path / "secret", "--once"]
    if state:
        args += ["--state", state.format(tmp=tmp_path)]
    result = _cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_export_feedback_to_a_folder_it_cannot_make_exits_non_zero_with_one_line(tmp_path):
    from moderation.store import Store

    database = f"sqlite:///{tmp_path / 'moderation.db'}"
    Store(database).dispose()
    (tmp_path / "file").write_text("a file, not a folder")
    result = _cli("export-feedback", "--database", database, "--output", tmp_path / "file" / "labels.jsonl")
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(tmp_path / "file") in lines[0], result.output


@pytest.mark.parametrize("html,text", [
    ('<a href="http://spam.example/x">click here', "click here (http://spam.example/x)"),
    ('<p><a href="http://a.example">one<a href="http://b.example">two</a></p>',
     "onetwo (http://b.example)\n\n(http://a.example)"),
    ('see <a href="http://spam.example">', "see http://spam.example"),
])
def test_coral_keeps_the_target_of_a_link_left_open(html, text):
    """A reader's browser shows an unclosed <a> as a link to the end of the comment; its target was dropped, so
    neither the model nor the links rule (MODERATION_LINKS_ACTION) saw where it pointed."""
    from service.coral import html_to_text

    assert html_to_text(html) == text


def test_rescore_reads_old_decisions_in_any_case_and_spacing(tiny_registry, tmp_path):
    """An export with "ACCEPT" or "Accept " counted every such row as changed (`ACCEPT -> accept`) and split the
    change matrix by spelling: an operator read 2 of 3 decisions changed where none had."""
    import json

    source = tmp_path / "old.csv"
    source.write_text("id,text,decision\n1,A fair point about the budget vote,ACCEPT\n"
                      "2,Thanks for the article,Accept \n3,Good reporting,accept\n4,Well said,\n5,Agreed, \n")
    result = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", tmp_path / "new.jsonl",
                  "--workers", 1, "--no-progress")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["change_matrix"]) == {"accept"}
    assert sum(summary["change_matrix"]["accept"].values()) == 3
    assert summary["changed"] == 3 - summary["change_matrix"]["accept"]["accept"]


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


def test_a_second_rescore_into_the_same_output_refuses_while_the_first_runs(tiny_registry, tmp_path):
    """Two runs into one output (a nightly cron job that overlaps the last one, a command started twice) shared
    one work folder: the second emptied it under the first, both truncated and appended the same files and both
    could exit 0 with rows lost or doubled. While a run holds the output's work folder, another refuses (exit 2);
    once it is done, the next run goes ahead."""
    import fcntl
    import json

    source = tmp_path / "old.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": f"comment {i}"}) + "\n" for i in range(30)))
    out = tmp_path / "new.jsonl"
    args = ("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--workers", 1,
            "--no-progress")
    work = tmp_path / "new.jsonl.rescore"
    work.mkdir()
    with open(work / ".lock", "a") as held:  # what a run in progress holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = _cli(*args)
        assert second.exit_code == 2, (second.exit_code, second.output[-2000:])
        assert second.output.strip().splitlines()[-1].startswith("error: another rescore"), second.output
        assert (work / ".lock").exists() and not out.exists()
        resumed = _cli(*args, "--resume")
        assert resumed.exit_code == 2 and "another rescore" in resumed.output
    done = _cli(*args)
    assert done.exit_code == 0, done.output
    assert len(out.read_text().splitlines()) == 30 and not work.exists()
    failed = _cli("rescore", "--models", tiny_registry.root, "--input", source, "--output", out, "--model", "nope")
    assert failed.exit_code == 2 and not work.exists()  # a run that fails at once leaves no work folder


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
