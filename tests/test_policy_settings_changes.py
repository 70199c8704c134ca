"""Run-time policy settings under concurrent changes and polls: two clicks at once both count, a poll never undoes
a change, and a threshold pair that does not make a policy is refused."""

from __future__ import annotations

from service import create_app


def _app(tiny_registry, tmp_path, **config):
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


def _csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


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
