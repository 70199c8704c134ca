"""Training on a site's own labelled files: a file named as a shared source stays the site's own source with its
site weight, and a site weight without site labels is a usage error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moderation.features import SHARED_SOURCES
from moderation.registry import ModelRegistry
from training import datasets, train as training


def site_file(path, n: int = 40):
    rows = [{"text": f"Limited offer {i}: cheap watches at www.watch{i}.example, click now", "label": "spam"}
            for i in range(n // 2)]
    rows += [{"text": f"Comment {i}: the council should publish the budget figures before the vote",
              "label": "ham"} for i in range(n // 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", SHARED_SOURCES)
def test_a_site_file_named_as_a_shared_source_keeps_its_own_source(tmp_path, name):
    examples = datasets.load_labelled(site_file(tmp_path / name))
    assert len(examples) == 40
    assert {e.source for e in examples} == {f"{name} (site labels)"}
    assert {e.group for e in examples} == {f"{name} (site labels)"}
    assert {e.source for e in datasets.load_labelled(site_file(tmp_path / f"{name}.jsonl"))} == {f"{name}.jsonl"}


def test_a_site_file_named_fox_is_trained_on_with_its_site_weight(small_examples, tmp_path, monkeypatch):
    """Named `fox`, the site's labels were the shared Fox source: balanced with it at weight 1, not 10, and split
    as one Fox article (all 40 held out, or none)."""
    seen = {}

    def spy(sources, balance, site_weight):
        seen["sources"], seen["weights"] = list(sources), training_weights(sources, balance, site_weight)
        return seen["weights"]

    training_weights = training.source_weights
    monkeypatch.setattr(training, "source_weights", spy)
    metadata = training.train_model(ModelRegistry(tmp_path / "models"), examples=small_examples,
                                    extra_files=(site_file(tmp_path / "fox"),), threshold_folds=3)
    by_source = metadata["data"]["train_by_source"]
    site = sum(by_source["fox (site labels)"].values())
    assert 0 < site < 40  # a fifth or so held out by hash of the text, like any other labelled file
    sources, weights = np.array(seen["sources"]), seen["weights"]
    assert weights[sources == "fox (site labels)"].min() > weights[sources == "fox"].max()


def test_a_site_weight_without_site_labels_is_a_usage_error(tmp_path, monkeypatch):
    """`train --site-weight 5` alone trained on the shared data and recorded site_label_weight 5: it weighed nothing."""
    from click.testing import CliRunner

    from training.__main__ import cli

    monkeypatch.setattr(training, "train_model", lambda *a, **k: pytest.fail("trained"))
    result = CliRunner().invoke(cli, ["train", "--models", str(tmp_path / "models"), "--site-weight", "5"])
    assert result.exit_code == 2 and "--data or --with-feedback" in result.output
    assert not (tmp_path / "models").exists()
