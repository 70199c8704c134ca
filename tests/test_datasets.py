import json

import pytest

from training import datasets
from training.datasets import DataError, Example


def test_public_sets_load_with_their_sizes(data_dir):
    youtube = datasets.load_youtube(data_dir / "youtube-spam-collection")
    sms = datasets.load_sms(data_dir / "sms-spam-collection" / "SMSSpamCollection")
    fox = datasets.load_fox(data_dir / "fox-news-comments" / "fox-news-comments.json")
    assert (len(youtube), sum(e.is_spam for e in youtube)) == (1586, 831)
    assert (len(sms), sum(e.is_spam for e in sms)) == (5574, 747)
    assert len(fox) == 1528 and all(e.label == "ham" for e in fox)
    assert len({e.group for e in fox}) == 10


def test_deduplicate_drops_repeats_and_conflicts():
    examples = [Example("Hello&#39;s", "ham", "youtube"), Example("hello's", "ham", "sms"),
                Example("buy now", "spam", "youtube"), Example("BUY  now", "ham", "sms"), Example("ok", "ham", "fox")]
    kept = datasets.deduplicate(examples)
    assert [e.text for e in kept] == ["Hello&#39;s", "ok"]


def test_a_site_label_takes_precedence_over_the_shared_copies_of_its_text():
    """A moderator's label of a text the shared data also has used to lose: the shared copy was kept (without the
    site weight), or on a conflict both were dropped and the correction never reached the model."""
    examples = [Example("Check out my channel", "spam", "youtube"), Example("check out  my channel", "spam", "sms"),
                Example("Great song", "ham", "youtube"), Example("ok", "ham", "fox"),
                Example("CHECK OUT MY CHANNEL", "ham", "feedback"),  # this site's moderators: fine here
                Example("great song", "ham", "feedback"),  # agrees with the shared copy: the site's copy counts
                Example("Call now", "spam", "feedback"), Example("call now", "ham", "feedback")]  # corrected
    kept = datasets.deduplicate(examples)
    assert [(e.text, e.label, e.source) for e in kept] == [
        ("ok", "ham", "fox"), ("CHECK OUT MY CHANNEL", "ham", "feedback"), ("great song", "ham", "feedback"),
        ("call now", "ham", "feedback")]
    assert datasets.deduplicate(examples[:4]) == [examples[0], examples[2], examples[3]]  # shared data alone: as before


def test_split_is_deterministic_deduplicated_and_grouped_by_article(data_dir):
    from training.train import load_default_examples

    examples = load_default_examples(data_dir)
    train, evaluation = datasets.split(examples)
    again_train, again_eval = datasets.split(list(reversed(examples)))
    assert {datasets.dedup_key(e.text) for e in evaluation} == {datasets.dedup_key(e.text) for e in again_eval}
    train_keys = {datasets.dedup_key(e.text) for e in train}
    assert not train_keys & {datasets.dedup_key(e.text) for e in evaluation}
    fox_train = {e.group for e in train if e.source == "fox"}
    fox_eval = {e.group for e in evaluation if e.source == "fox"}
    assert len(fox_eval) == 2 and not fox_train & fox_eval
    assert 0.15 < len(evaluation) / (len(train) + len(evaluation)) < 0.3


def test_general_format_csv_and_json_lines(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("text,label,article_id,article_title\nnice point,ham,a1,Budget\nbuy pills,SPAM,,\n")
    rows = datasets.load_labelled(csv_file)
    assert [(e.text, e.label, e.article_id) for e in rows] == [("nice point", "ham", "a1"), ("buy pills", "spam", "")]
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text(json.dumps({"text": "shoe level lies", "label": "off_topic", "article_title": "Mosul"}) + "\n\n")
    assert datasets.load_labelled(jsonl)[0].label == "off_topic"


@pytest.mark.parametrize("content,message", [
    ('{"text": "x", "label": "maybe"}\n', "label must be one of"),
    ('{"label": "spam"}\n', "needs a 'text'"),
    ('{"text": \n', "invalid JSON"),
])
def test_general_format_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        datasets.load_labelled(path)
    assert "bad.jsonl:1" in str(info.value)


@pytest.mark.parametrize("name, content", [
    ("bad.csv", b"text,label\nnice point,ham\ncaf\xe9 au lait,ham\n"),
    ("bad.jsonl", b'{"text": "nice point", "label": "ham"}\n{"text": "caf\xe9", "label": "ham"}\n'),
])
def test_a_labelled_file_with_invalid_utf8_is_a_data_error_naming_its_line(tmp_path, name, content):
    path = tmp_path / name  # (it was a UnicodeDecodeError traceback from `train --data` / `evaluate --data`)
    path.write_bytes(content)
    with pytest.raises(DataError, match="invalid UTF-8") as info:
        datasets.load_labelled(path)
    assert f"{name}:3" in str(info.value) if name.endswith(".csv") else f"{name}:2" in str(info.value)


@pytest.mark.parametrize("name, content", [
    ("labels.csv", b'\xef\xbb\xbf"text","label"\r\n"nice point","ham"\r\n'),
    ("labels.csv", b"\xef\xbb\xbftext,label\nnice point,ham\n"),
    ("labels.jsonl", b'\xef\xbb\xbf{"text": "nice point", "label": "ham"}\r\n'),
])
def test_a_labelled_file_with_a_utf8_bom_is_read(tmp_path, name, content):
    path = tmp_path / name  # Excel's "CSV UTF-8", PowerShell: it was refused ("needs a 'text'", "invalid JSON")
    path.write_bytes(content)
    assert [(e.text, e.label) for e in datasets.load_labelled(path)] == [("nice point", "ham")]


def test_download_through_a_mirror_checks_the_same_hashes(data_dir, tmp_path, monkeypatch):
    """An air-gapped build (the Dockerfile's DATA_MIRROR) downloads from MODERATION_DATA_MIRROR: the same files,
    the same SHA-256 checks, and a mirror serving different content is refused with nothing moved into place."""
    from training import sources

    mirror = tmp_path / "mirror"
    written = sources.write_mirror(data_dir, mirror)
    assert sorted(p.name for p in written) == [
        "annotations.csv", "bad_keywords.txt", "blacklisted_numbers.txt", "blacklisted_websites.txt", "comments.csv",
        "full-comments-u.json", "gc.csv", "gn.csv", "sms+spam+collection.zip", "tsd_test.csv", "tsd_train.csv",
        "tsd_trial.csv", "youtube+spam+collection.zip"]
    monkeypatch.setenv("MODERATION_DATA_MIRROR", mirror.as_uri() + "/")
    assert sources.mirrored(sources.FILES["sms-spam-collection/SMSSpamCollection"][1]) == \
        mirror.as_uri() + "/sms+spam+collection.zip"
    target = sources.download_data(tmp_path / "data")
    assert sources.data_hashes(target) == sources.data_hashes(data_dir)

    (mirror / "full-comments-u.json").write_text("[]")
    with pytest.raises(sources.DataUnavailable, match="full-comments-u.json .* has SHA-256"):
        sources.download_data(tmp_path / "other")
    assert not (tmp_path / "other").exists()

    monkeypatch.setenv("MODERATION_DATA_MIRROR", (tmp_path / "nowhere").as_uri())
    with pytest.raises(sources.DataUnavailable, match="MODERATION_DATA_MIRROR"):
        sources.download_data(tmp_path / "third")
