"""Features and the spam model pipeline, shared by training and serving.

The fitted `Pipeline` built here is the whole artifact: it starts from raw comment text (normalisation is its
first step), so serving never re-implements preprocessing. Every step is a module-level function or a stock
scikit-learn estimator, so the pipeline pickles cleanly and survives library upgrades that keep the API.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from moderation.links import LINK_NAMES, is_video_link, link_signals
from moderation.promotion import PROMOTION_NAMES, promotion_signals
from moderation.text import TextMemo, normalise_all
from moderation.webspam import WEBSPAM_NAMES, WebSpamSignals
from moderation.vectorised import (
    CHAR_CLASSES, SEPARATOR, BatchTfidfVectorizer, CharNgramHasher, codepoints, match_counts, per_text_sums,
    scan_pattern,
)

URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]{1,62}\.(?:com|net|org|ly|co|info|biz|io|me|tk|ru|uk|us|tv|gl|be|xyz)\b(?:/\S*)?",
    re.IGNORECASE,
)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
HANDLE = re.compile(r"(?<!\w)@\w{2,}")
# Seven digits or more, in groups: a phone number. Not the digits of a date ("2023-10-17 15:44"), an IP address,
# a version or build number ("10.0.19041", "19045.3693") or a word ("0x80070005"): a reader's error report
# quotes those, and as phone numbers they weighed like an advert's.
PHONE = re.compile(
    r"(?<!\d)(?<!0x)(?<!\d\.)(?!\d{4}-\d\d?-\d\d?(?!\d)|\d{1,3}(?:\.\d{1,3}){3}(?!\d)|\d{1,2}\.\d+\.\d|"
    r"\d{1,6}\.\d+(?![\d.])(?![\s-]*\d))(?:\+?\d[\s.-]?){7,}")
MONEY = re.compile(r"[£$€¥]\s?\d|\d\s?(?:£|\$|€|usd|gbp|eur|dollars|pounds)\b|\b\d+\s?(?:k|grand)\b", re.IGNORECASE)
NUMBER = re.compile(r"\d+")
_DIGIT = re.compile(r"\d")
# Letters spaced out to dodge word filters: "s.u.b.s.c.r.i.b.e", "f r e e".
SPACED_OUT = re.compile(r"(?:\b\w[\s._*-]){4,}\w\b")
# Digits standing in for letters inside words: "fr33", "w1n", "c4sh".
LEET = re.compile(r"\b[a-z]+[0-9]+[a-z]+\b|\b[a-z]{2,}[0-9]{1,2}\b", re.IGNORECASE)
REPEAT = re.compile(r"(.)\1{3,}")
PROMO = re.compile(
    r"\b(?:check (?:out|it out)|subscribe|subscriber|my (?:channel|video|page|site|website|blog|music)|"
    r"visit|click|follow me|free|win|winner|prize|giveaway|offer|cash|earn|money|promo|discount|"
    r"like this comment|thumbs up|share this|sign up|join|download|txt|text to|call now|reply)\b",
    re.IGNORECASE,
)

SIGNAL_NAMES = (
    "links", "emails", "handles", "phone_numbers", "money", "promo_phrases", "spaced_out_letters",
    "leetspeak", "repeated_characters", "exclamations", "capitals_share", "digits_share", "length", "words",
)


def _placeholders(text: str, link) -> str:
    """Links (replaced by `link`, a string or a function of the link's text), e-mail addresses, phone numbers and
    numbers as placeholder tokens, lower-cased."""
    # Each pattern needs an "@", a "." or ":", or a digit: texts without one skip it (the same result, faster).
    digits = _DIGIT.search(text) is not None
    if "@" in text:
        text = EMAIL.sub(" zzemail ", text)
    if "." in text or ":" in text:
        text = _replace_links(text, link)
    if digits:
        text = PHONE.sub(" zzphone ", text)
        return NUMBER.sub(" zznum ", text.lower())
    return text.lower()


def _url_spans(text: str) -> tuple:
    """(start, end) of every URL match in `text`: the word model's link placeholders and the links signal of the
    same text share one scan (memoised per text, emptied with the other text memos)."""
    return tuple(m.span() for m in URL.finditer(text))


url_spans = TextMemo(_url_spans)


def _replace_links(text: str, link) -> str:
    """`URL.sub(link, text)` from the memoised spans (`link` a string without escapes, or a function of the
    link's text); equal to it, tested."""
    spans = url_spans(text)
    if not spans:
        return text
    parts, end = [], 0
    for start, stop in spans:
        parts.append(text[end:start])
        parts.append(link if link.__class__ is str else link(text[start:stop]))
        end = stop
    parts.append(text[end:])
    return "".join(parts)


def feature_text(text: str) -> str:
    """Text for the word model: links, e-mail addresses, phone numbers and numbers become placeholder tokens.

    A spam link on a news site is never the same link as on YouTube; the fact that there is one carries over.
    """
    return _placeholders(text, " zzlink ")


def _link_placeholder(link: str) -> str:
    return " zzvideo " if is_video_link(link) else " zzlink "


def feature_text_links(text: str) -> str:
    """`feature_text`, but a link to a video becomes `zzvideo` and only other links `zzlink` (moderation.links)."""
    return _placeholders(text, _link_placeholder)


def signal_features(texts) -> sparse.csr_matrix:
    """Source-independent signals of spam, each squashed into [0, 1] (one row per text, columns SIGNAL_NAMES).

    Vectorised over the batch (`moderation.vectorised`): each pattern runs once over all texts joined by a
    separator no pattern can match across, and the counts per text equal `len(pattern.findall(text))`.
    """
    return sparse.csr_matrix(np.tanh(_signal_values(texts)))


def _signal_values(texts) -> np.ndarray:
    """`signal_features` before the tanh."""
    texts = list(texts)
    points, starts, lengths = codepoints(texts, SEPARATOR)
    alpha, digit, upper = CHAR_CLASSES.classify(points)
    letters = np.maximum(per_text_sums(alpha, starts, lengths), 1)
    digits = per_text_sums(digit, starts, lengths)
    # Patterns that need an "@", a "." / ":" or digits only scan the texts that have them: the same counts.
    at = np.fromiter(("@" in t for t in texts), dtype=bool, count=len(texts))
    dot = np.fromiter(("." in t or ":" in t for t in texts), dtype=bool, count=len(texts))
    values = np.empty((len(texts), len(SIGNAL_NAMES)), dtype=np.float64)
    # The URL matches are the ones the word model's placeholders found for the same texts (`url_spans`).
    values[:, 0] = [len(url_spans(t)) if d else 0 for t, d in zip(texts, dot.tolist())]
    for column, (pattern, where) in enumerate((
            (EMAIL, at), (HANDLE, at), (PHONE, digits >= 7), (MONEY, digits > 0), (PROMO, None),
            (SPACED_OUT, None), (LEET, digits > 0), (REPEAT, None)), start=1):
        values[:, column] = match_counts(pattern, texts, where)
    values[:, 9] = per_text_sums(points == ord("!"), starts, lengths)
    values[:, 10] = per_text_sums(upper, starts, lengths) / letters * 3
    values[:, 11] = digits / np.maximum(lengths, 1) * 5
    values[:, 12] = np.log1p(lengths) / 3
    values[:, 13] = np.log1p(per_text_sums(points == ord(" "), starts, lengths) + 1) / 2
    return values


# Promotion phrases per this many words in `signal_features_per_words`.
PROMO_WORDS = 20
_PROMO_COLUMN, _WORDS_COLUMN = SIGNAL_NAMES.index("promo_phrases"), SIGNAL_NAMES.index("words")


def _promo_per_words(values: np.ndarray) -> np.ndarray:
    """Divide the promotion-phrase counts by max(1, words / PROMO_WORDS), in place (`values` before the tanh)."""
    # The words column holds log1p(spaces + 1) / 2 of the single-spaced text: words = spaces + 1.
    words = np.round(np.expm1(values[:, _WORDS_COLUMN] * 2))
    values[:, _PROMO_COLUMN] /= np.maximum(1.0, words / PROMO_WORDS)
    return values


def signal_features_per_words(texts) -> sparse.csr_matrix:
    """`signal_features`, with the promotion phrases ("free", "money", "cash", "win", "offer", "join"...) counted
    per PROMO_WORDS words instead of per comment.

    A spam comment is short and all promotion; a long argued news comment about welfare or taxes says "money",
    "free" and "cash" several times among hundreds of words. Counted per comment, those words added up to the
    strongest push towards spam on the news comments the model flagged; as a density they weigh what they
    weigh in a short comment. Comments of up to PROMO_WORDS words are unchanged.
    """
    return sparse.csr_matrix(np.tanh(_promo_per_words(_signal_values(texts))))


def signal_features_per_text(texts) -> sparse.csr_matrix:
    """The reference definition of `signal_features`, one text at a time (kept for tests and older models)."""
    return sparse.csr_matrix(np.tanh(_signal_rows_reference(texts)))


def signal_rows(texts) -> np.ndarray:
    """`signal_features_per_text` as a dense array (the single-comment scorer reads it; no sparse round trip)."""
    return np.tanh(_signal_rows(texts))


def signal_rows_per_words(texts) -> np.ndarray:
    """`signal_features_per_words`, one text at a time (the per-text reference; the single-comment scorer)."""
    return np.tanh(_promo_per_words(_signal_rows(texts)))


def _signal_rows(texts) -> np.ndarray:
    """`signal_rows` before the tanh: `_signal_rows_reference`, skipping every pattern that cannot match.

    URL needs a "." or ":" (its alternatives hold "://", "www." or "\\."), EMAIL and HANDLE an "@", PHONE seven
    digits, MONEY and LEET one (every alternative has a \\d or [0-9]; str.isdigit counts a superset of both),
    REPEAT four characters; the promotional phrases are scanned with their first-character look-ahead
    (`vectorised.scan_pattern`, the same matches). The URL matches are the ones the word model's placeholders
    found (`url_spans`). Equal to the reference on every training text and hostile cases (tests)."""
    promo = scan_pattern(PROMO).findall
    rows = []
    for text in texts:
        n = max(len(text), 1)
        letters, digits, upper = _char_counts(text)
        letters = letters or 1
        at = "@" in text
        rows.append((
            len(url_spans(text)) if "." in text or ":" in text else 0,
            len(EMAIL.findall(text)) if at else 0,
            len(HANDLE.findall(text)) if at else 0,
            len(PHONE.findall(text)) if digits >= 7 else 0,
            len(MONEY.findall(text)) if digits else 0,
            len(promo(text)),
            len(SPACED_OUT.findall(text)),
            len(LEET.findall(text)) if digits else 0,
            len(REPEAT.findall(text)) if n >= 4 else 0,
            text.count("!"),
            upper / letters * 3,
            digits / n * 5,
            np.log1p(len(text)) / 3,
            np.log1p(text.count(" ") + 1) / 2,
        ))
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(SIGNAL_NAMES))


_ASCII_DIGITS, _ASCII_UPPER = b"0123456789", bytes(range(65, 91))
_ASCII_LETTERS = _ASCII_UPPER + bytes(range(97, 123))


def _char_counts(text: str) -> tuple[int, int, int]:
    """(letters, digits, capitals): the characters for which str.isalpha / isdigit / isupper hold. For an ASCII
    text those are exactly A-Z a-z / 0-9 / A-Z, counted by deleting them from its bytes (C loops, not three
    Python-level passes over the characters)."""
    if text.isascii():
        data = text.encode("ascii")
        n = len(data)
        return (n - len(data.translate(None, _ASCII_LETTERS)), n - len(data.translate(None, _ASCII_DIGITS)),
                n - len(data.translate(None, _ASCII_UPPER)))
    return sum(map(str.isalpha, text)), sum(map(str.isdigit, text)), sum(map(str.isupper, text))


def _signal_rows_reference(texts) -> np.ndarray:
    """`signal_features` before the tanh, one text at a time, every pattern on every text: the reference."""
    rows = []
    for text in texts:
        n = max(len(text), 1)
        letters = sum(map(str.isalpha, text)) or 1
        digits = sum(map(str.isdigit, text))
        rows.append((
            len(URL.findall(text)), len(EMAIL.findall(text)), len(HANDLE.findall(text)),
            len(PHONE.findall(text)), len(MONEY.findall(text)), len(PROMO.findall(text)),
            len(SPACED_OUT.findall(text)), len(LEET.findall(text)), len(REPEAT.findall(text)),
            text.count("!"),
            sum(map(str.isupper, text)) / letters * 3,
            digits / n * 5,
            np.log1p(len(text)) / 3,
            np.log1p(text.count(" ") + 1) / 2,
        ))
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(SIGNAL_NAMES))


class CalibratedLinear(ClassifierMixin, BaseEstimator):
    """Logistic regression with a sigmoid (Platt) calibration fitted on its own out-of-fold scores.

    Like `CalibratedClassifierCV(method="sigmoid", ensemble=False)`, but it keeps the calibrated out-of-fold
    scores of the training data (`oof_scores_`), from which training chooses the flag and reject thresholds
    without fitting the whole pipeline again, and it exposes the linear model (`linear_`) for explanations:
    the calibration is monotone, so a feature that raises the linear score raises the spam probability.
    """

    def __init__(self, C: float = 4.0, folds: int = 5, class_weight="balanced", random_state: int = 0):
        self.C = C
        self.folds = folds
        self.class_weight = class_weight
        self.random_state = random_state

    def _linear(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=2000,
                                  random_state=self.random_state)

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y).astype(int)
        cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        oof = np.zeros(len(y))
        for train, test in cv.split(np.zeros(len(y)), y):
            weights = None if sample_weight is None else sample_weight[train]
            oof[test] = self._linear().fit(X[train], y[train], sample_weight=weights).decision_function(X[test])
        # The calibration maps scores to frequencies as they are in the data, so it is fitted unweighted.
        self.calibrator_ = LogisticRegression(C=1e4).fit(oof.reshape(-1, 1), y)
        self.oof_scores_ = self.calibrator_.predict_proba(oof.reshape(-1, 1))[:, 1]
        self.linear_ = self._linear().fit(X, y, sample_weight=sample_weight)
        # The average training comment: explanations measure signals against it (see moderation.explain).
        self.feature_means_ = np.asarray(X.mean(axis=0), dtype=np.float32).ravel()
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X) -> np.ndarray:
        return self.linear_.decision_function(X)

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        a, b = float(self.calibrator_.coef_[0, 0]), float(self.calibrator_.intercept_[0])
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(decision, dtype=np.float64) + b)))

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


# The names of the columns of each dense signal block of the pipeline, for explanations.
SIGNAL_BLOCKS = {"signals": SIGNAL_NAMES, "promotion": PROMOTION_NAMES, "links": LINK_NAMES, "webspam": WEBSPAM_NAMES}

CHAR_FEATURES = 2 ** 20
SOURCE_BALANCE = 0.5  # how far training moves each source towards an equal share of the weight (see below)
# The shared corpora (`training.datasets`); every other source is a labelled file a site adds: its moderators'
# labels (`train --with-feedback`) or its own labelled data (`train --data`).
# A site's unlabelled archive (`train --archive`) is weighed like them: it is no moderator's label.
SHARED_SOURCES = ("youtube", "sms", "fox", "civil", "wiki", "article-spam", "archive")
# How much more one of a site's own labels weighs than a shared example of the same balanced weight: comments from
# the site's own readers are what the model is for (`make bench BENCH=adaptation`, docs/moderators/retraining.md).
SITE_LABEL_WEIGHT = 10.0


def source_weights(sources, balance: float | None, site_weight: float = 1.0) -> np.ndarray | None:
    """Per-example weights that move each source towards an equal share of the training weight.

    `balance` 0 (or None) leaves the data as it is, 1 gives every source the same total weight; in between,
    weight = (share the source would have if balanced / share it has) ** balance. Examples of a site's own
    sources (not in `SHARED_SOURCES`) then weigh `site_weight` times that. Normalised to mean 1; None when every
    weight would be equal.
    """
    sources = np.asarray(sources)
    site = ~np.isin(sources, SHARED_SOURCES)
    if not balance and (site_weight == 1 or not site.any()):
        return None
    weights = np.ones(len(sources))
    if balance:
        names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
        weights = (len(sources) / (len(names) * counts[inverse])) ** balance
    weights = np.where(site, weights * site_weight, weights)
    return weights / weights.mean()


def build_spam_pipeline(C: float = 10.0, calibration_folds: int = 5, random_state: int = 0,
                        char_ngrams: tuple[int, int] = (2, 4), signals: bool = True,
                        promotion: bool = True, link_kinds: bool = True, promo_per_words: bool = True,
                        webspam_lists: dict | None = None) -> Pipeline:
    """The default spam model: word n-grams, hashed character n-grams and signals, a calibrated logistic regression.

    Character n-grams within space-padded words (like scikit-learn's `char_wb`) are hashed for the whole batch at
    once with numpy (`moderation.vectorised.CharNgramHasher`) and weighted by TF-IDF; `moderation.explain` maps a
    text's own n-grams back to their hashed columns. `link_kinds` tells links to a video from other links
    (`moderation.links`): a `zzvideo` placeholder for the word model and a video-links signal block.
    `webspam_lists` (`webspam.compile_lists`) adds the article-comment spam signals (`moderation.webspam`).
    """
    blocks = [
        ("words", BatchTfidfVectorizer(
            preprocessor=feature_text_links if link_kinds else feature_text, token_pattern=r"(?u)\b\w\w+\b|[!?$£€]", ngram_range=(1, 2),
            min_df=2, max_df=0.5, sublinear_tf=True, dtype=np.float32,
        )),
        ("chars", Pipeline([
            ("hash", CharNgramHasher(ngram_range=char_ngrams, n_features=CHAR_FEATURES, dtype=np.float32)),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ])),
    ]
    if signals:
        # promotion phrases per PROMO_WORDS words, so long news comments do not add them up (see the function)
        blocks.append(("signals", FunctionTransformer(signal_features_per_words if promo_per_words else signal_features,
                                                      accept_sparse=True)))
    if promotion:  # self-promotion and engagement bait (moderation.promotion)
        blocks.append(("promotion", FunctionTransformer(promotion_signals, accept_sparse=True)))
    if link_kinds:  # links to a video apart from other links (moderation.links)
        blocks.append(("links", FunctionTransformer(link_signals, accept_sparse=True)))
    if webspam_lists is not None:
        blocks.append(("webspam", WebSpamSignals(webspam_lists)))
    return Pipeline([
        ("normalise", FunctionTransformer(normalise_all)),
        ("features", FeatureUnion(blocks)),
        ("classifier", CalibratedLinear(C=C, folds=calibration_folds, random_state=random_state)),
    ])


def spam_scores(pipeline: Pipeline, texts) -> np.ndarray:
    """Calibrated probability that each text is spam (class 1)."""
    return pipeline.predict_proba(list(texts))[:, 1]
