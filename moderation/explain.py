"""Why a comment got its spam score: the words, character patterns and signals that pushed it up or down.

The spam model is linear underneath its calibration (`features.CalibratedLinear`), and the calibration is a
monotone sigmoid, so each feature's contribution to the linear score (its value in this comment times the
model's weight for it) says exactly how much it pushed the spam probability up (positive) or down (negative).
Weights are in log-odds units of the uncalibrated score; their sum plus the bias is the linear score. Signals
(length, capitals...) are measured against the average training comment, so "length" only shows up when the
comment is unusually long or short for the training data.

The features are grouped so a moderator can read them:
- `words`: word 1-2-grams as the model sees them (`<link>`, `<email>`, `<phone>`, `<number>` placeholders);
- `characters`: the character n-grams (hashed, so the model has no names for them) regenerated from each word
  of the comment and summed per word - "this word's spelling looks like spam";
- `signal`: the source-independent signals (links, phone numbers, promotion phrases, capitals...).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.pipeline import Pipeline

from moderation.features import SIGNAL_BLOCKS
from moderation.text import normalise

PLACEHOLDERS = {"zzlink": "<link>", "zzvideo": "<video link>", "zzemail": "<email>", "zzphone": "<phone>", "zznum": "<number>"}
TOP = 8
SIGNAL_LABELS = {
    "length": "length (characters)", "words": "length (words)",
    "listed_keywords": "spam keyword (SmokeDetector list)", "listed_websites": "spam website (SmokeDetector list)",
    "listed_numbers": "fake support number (SmokeDetector list)", "support_phone": "phone number with support words",
    "written_domain": "domain written out", "commercial_link": "link to a commercial-looking host",
    "reference_link": "link to a reference site", "advert_share": "share of the comment that is an advert",
    "link_only": "only a link", "praise_advert": "generic praise around an advert",
}


def _linear_model(classifier):
    """The fitted linear model and the calibration direction of the final pipeline step."""
    if hasattr(classifier, "linear_"):
        return classifier.linear_
    if hasattr(classifier, "calibrated_classifiers_"):  # CalibratedClassifierCV(ensemble=False), older models
        return classifier.calibrated_classifiers_[0].estimator
    if hasattr(classifier, "coef_"):
        return classifier
    raise TypeError(f"cannot explain a {type(classifier).__name__}")


def _word_names(vectorizer: TfidfVectorizer, columns: np.ndarray) -> list[str]:
    names = vectorizer.get_feature_names_out()
    return [" ".join(PLACEHOLDERS.get(token, token) for token in str(names[c]).split(" ")) for c in columns]


def _char_columns(block, words: list[str]) -> dict[int, dict[str, int]]:
    """Column -> {word: how often the word's n-grams hit that column} for the character block."""
    if isinstance(block, Pipeline):
        hasher = block.steps[0][1]
    else:
        hasher = block
    columns: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, int] = defaultdict(int)
    for word in words:
        counts[word] += 1
    if hasattr(hasher, "word_columns"):  # moderation.vectorised.CharNgramHasher
        for word, count in counts.items():
            for column in hasher.word_columns(word):
                columns[int(column)][word] += count
        return columns
    analyzer = hasher.build_analyzer()
    for word, count in counts.items():
        grams = analyzer(word)
        if not grams:
            continue
        if isinstance(hasher, HashingVectorizer):
            single = HashingVectorizer(analyzer=_identity, n_features=hasher.n_features, alternate_sign=False,
                                       norm=None)
            hit = single.transform([[g] for g in grams]).indices
        else:
            vocabulary = hasher.vocabulary_
            hit = [vocabulary[g] for g in grams if g in vocabulary]
        for column in hit:
            columns[int(column)][word] += count
    return columns


def _means(classifier, start: int, width: int) -> np.ndarray:
    means = getattr(classifier, "feature_means_", None)
    return np.zeros(width) if means is None else np.asarray(means[start:start + width], dtype=np.float64)


def _identity(doc):
    return doc


def explain_spam(pipeline: Pipeline, text: str, top: int = TOP) -> dict:
    """The features of `text` that pushed its spam score up and down most, with their weights."""
    normalised = normalise(text)
    union = pipeline.named_steps["features"]
    linear = _linear_model(pipeline.steps[-1][1])
    coef = np.asarray(linear.coef_).ravel()
    bias = float(np.asarray(linear.intercept_).ravel()[0])
    contributions: dict[tuple[str, str], float] = defaultdict(float)
    offset = 0
    for name, block in union.transformer_list:
        if block == "drop":
            continue
        row = sparse.csr_matrix(block.transform([normalised]))
        row.eliminate_zeros()
        width = row.shape[1]
        columns, values = row.indices, row.data
        block_coef = coef[offset:offset + width]
        offset += width
        if len(columns) == 0:
            continue
        effect = values * block_coef[columns]
        if name == "words":
            for label, value in zip(_word_names(block, columns), effect):
                contributions[("words", label)] += float(value)
        elif name == "chars":
            owners = _char_columns(block, normalised.split())
            for column, value in zip(columns, effect):
                words = owners.get(int(column))
                if not words:
                    continue
                total = sum(words.values())
                for word, count in words.items():
                    contributions[("characters", word)] += float(value) * count / total
        elif name in SIGNAL_BLOCKS:
            # Every comment has a length, so signals are measured against the average training comment:
            # weight = coef * (value - average); the average's share moves into the bias.
            values = np.asarray(row.todense()).ravel()
            means = _means(pipeline.steps[-1][1], offset - width, width)
            bias += float((block_coef * means).sum())
            names = SIGNAL_BLOCKS[name]
            for column, value in enumerate((values - means) * block_coef):
                contributions[("signal", SIGNAL_LABELS.get(names[column], names[column]))] += float(value)
    if offset != len(coef):
        raise TypeError("the feature blocks do not match the model's weights")
    items = [{"feature": label, "kind": kind, "weight": round(value, 4)}
             for (kind, label), value in contributions.items() if abs(value) >= 1e-4]
    up = sorted((i for i in items if i["weight"] > 0), key=lambda i: -i["weight"])[:top]
    down = sorted((i for i in items if i["weight"] < 0), key=lambda i: i["weight"])[:top]
    score = bias + sum(contributions.values())
    return {
        "method": "linear contributions (log-odds) to the spam score before calibration",
        "bias": round(bias, 4),
        "linear_score": round(float(score), 4),
        "pushed_up": up,
        "pushed_down": down,
    }


def explain_verdict(moderator, text: str, verdict: dict) -> dict | None:
    """The explanation for a verdict of `moderator` on `text` (None when the comment was not scored: empty)."""
    from moderation.moderator import SCORED_CHARS

    if verdict["scores"]["spam"] is None:
        return None
    explanation = explain_spam(moderator.model.spam, text[:SCORED_CHARS])
    explanation["spam"] = verdict["scores"]["spam"]
    toxicity = verdict["scores"].get("toxicity")
    if moderator.toxicity is not None and toxicity is not None:
        # The words that made it toxic, as character offsets into the text as sent (moderation/toxicity.py).
        explanation["toxicity"] = toxicity
        explanation["toxic_spans"] = [{**span, "text": text[span["begin"]:span["end"]]}
                                      for span in moderator.toxicity.spans(text[:SCORED_CHARS], toxicity)]
    return explanation
