"""A model switch keeps the site rules in force: a word list reloaded while the new model loads is not lost."""

from __future__ import annotations

from service import create_app


def _app(tiny_registry, tmp_path, **config):
    return create_app({
        "TESTING": True, "MODELS_DIR": str(tiny_registry.root), "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'moderation.db'}", **config,
    })


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
