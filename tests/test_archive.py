"""train --archive: a site's published comments, learnt as its legitimate comments and articles minus its spam."""

import csv
import json
import random

import pytest

from moderation.registry import ModelRegistry
from training import archive, datasets
from training.__main__ import cli
from training.train import train_model

SPAM_IN_ARCHIVE = [
    "Great article, thanks for sharing! Visit bestessaywriters.net for cheap essays",
    "Delta Airlines customer service number +1-888-555-0199, call now for reservations",
    "http://cheap-pills-rx.xyz",
    "Thanks for the info. showbox,com has free movies",
]
WAVE = "Vote NO on the harbour bridge tax, share this with everyone you know before Tuesday"


def site_rows(data_dir, spam=SPAM_IN_ARCHIVE, wave_copies=4):
    """A site's archive: Fox comments with their articles, some spam and a wave mixed in."""
    fox = datasets.load_fox(data_dir / "fox-news-comments" / "fox-news-comments.json")
    rng = random.Random(5)
    rows = [{"id": f"c{i}", "text": e.text, "article_id": e.article_id, "article_title": e.article_title,
             "article_body": e.article_body} for i, e in enumerate(rng.sample(fox, 400))]
    rows += [{"id": f"s{i}", "text": t, "article_id": rows[i]["article_id"]} for i, t in enumerate(spam)]
    rows += [{"id": f"w{i}", "text": WAVE, "article_id": rows[i]["article_id"]} for i in range(wave_copies)]
    return rows


def test_the_spam_inside_an_archive_is_set_aside_and_the_rest_learnt(data_dir):
    from moderation.webspam import WebSpamSignals, compile_lists
    from training.augment import load_lists

    rows = site_rows(data_dir)
    signals = WebSpamSignals(compile_lists(**load_lists(data_dir / "smokedetector"))).fit()
    examples, report = archive.archive_examples(rows, webspam=signals)
    learnt = {e.text for e in examples}
    assert not learnt & set(SPAM_IN_ARCHIVE)
    assert WAVE not in learnt
    assert report["set_aside"]["repeated_text"] == 4
    assert report["set_aside"]["advert_shape"] >= len(SPAM_IN_ARCHIVE)
    assert report["learnt_as_legitimate"] >= 380  # a few real comments with a link are set aside too
    assert all(e.label == "ham" and e.source == archive.SOURCE and e.article_title for e in examples)


def test_the_live_model_screens_the_archive(tiny_registry, data_dir):
    model = tiny_registry.load(None)
    rows = site_rows(data_dir, spam=["Subscribe to my channel and win a free iPhone!!! http://bit.ly/win"], wave_copies=0)
    _, report = archive.archive_examples(rows, model.spam, 0.5)
    assert report["set_aside"]["held_for_spam_by_the_live_model"] >= 1


def test_training_with_an_archive_records_it_and_learns_its_articles(small_examples, data_dir, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    metadata = train_model(registry, examples=small_examples, threshold_folds=3, archive_rows=site_rows(data_dir),
                           archive_name="site.csv")
    assert metadata["archive"]["name"] == "site.csv"
    assert metadata["archive"]["comments"] == 408
    assert metadata["archive"]["screened_by"] is None  # no live model yet: the advert and repeat checks only
    assert metadata["data"]["train_by_source"]["archive"]["ham"] > 250
    assert "spam" not in metadata["data"]["train_by_source"]["archive"]
    relevance = metadata["metrics"]["relevance"]
    assert relevance["train_articles"]["news"] >= 1


def test_train_refuses_an_archive_it_cannot_read(tmp_path):
    from click.testing import CliRunner

    empty = tmp_path / "archive.csv"
    empty.write_text("id,text,article_id\n")
    for args in (["--archive", str(empty)], ["--archive", str(tmp_path / "missing.csv")],
                 ["--archive", str(tmp_path / "a.txt")], ["--archive-sql", "sqlite:///x.db"]):
        (tmp_path / "a.txt").write_text("x")
        result = CliRunner().invoke(cli, ["train", "--models", str(tmp_path / "models"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output
        assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.realdata
def test_train_with_an_archive_on_the_command_line(data_dir, tmp_path):
    """The whole command: the default data plus a site's archive with spam mixed in; the version printed last."""
    import subprocess
    import sys

    path = tmp_path / "archive.csv"
    rows = site_rows(data_dir)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "article_id", "article_title", "article_body"])
        writer.writeheader()
        writer.writerows(rows)
    models = tmp_path / "models"
    result = subprocess.run([sys.executable, "-m", "training", "train", "--models", str(models), "--archive", str(path)],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    version = result.stdout.strip().splitlines()[-1]
    registry = ModelRegistry(models)
    metadata = registry.metadata(version)
    assert metadata["archive"]["set_aside"]["advert_shape"] >= len(SPAM_IN_ARCHIVE)
    assert "archive:" in result.stderr
    model = registry.load(version)
    from moderation.features import spam_scores

    scores = spam_scores(model.spam, SPAM_IN_ARCHIVE)
    assert (scores >= metadata["thresholds"]["spam_flag"]).all(), json.dumps(scores.tolist())
