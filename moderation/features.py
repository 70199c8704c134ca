"""Features and the spam model pipeline, shared by training and serving.

The fitted `Pipeline` built here is the whole artifact: it starts from raw comment text (normalisation is its
first step), so serving never re-implements preprocessing. Every step is a module-level function or a stock
scikit-learn estimator, so the pipeline pickles cleanly and survives library upgrades that keep the API.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from moderation.text import normalise_all

URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]{1,62}\.(?:com|net|org|ly|co|info|biz|io|me|tk|ru|uk|us|tv|gl|be|xyz)\b(?:/\S*)?",
    re.IGNORECASE,
)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
HANDLE = re.compile(r"(?<!\w)@\w{2,}")
PHONE = re.compile(r"(?:\+?\d[\s.-]?){7,}")
MONEY = re.compile(r"[£$€¥]\s?\d|\d\s?(?:£|\$|€|usd|gbp|eur|dollars|pounds)\b|\b\d+\s?(?:k|grand)\b", re.IGNORECASE)
NUMBER = re.compile(r"\d+")
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


def feature_text(text: str) -> str:
    """Text for the word model: links, e-mail addresses, phone numbers and numbers become placeholder tokens.

    A spam link on a news site is never the same link as on YouTube; the fact that there is one carries over.
    """
    text = EMAIL.sub(" zzemail ", text)
    text = URL.sub(" zzlink ", text)
    text = PHONE.sub(" zzphone ", text)
    return NUMBER.sub(" zznum ", text.lower())


def signal_features(texts) -> sparse.csr_matrix:
    """Source-independent signals of spam, each squashed into [0, 1]."""
    rows = np.zeros((len(texts), len(SIGNAL_NAMES)), dtype=np.float64)
    for i, text in enumerate(texts):
        n = max(len(text), 1)
        letters = sum(c.isalpha() for c in text) or 1
        rows[i] = (
            len(URL.findall(text)),
            len(EMAIL.findall(text)),
            len(HANDLE.findall(text)),
            len(PHONE.findall(text)),
            len(MONEY.findall(text)),
            len(PROMO.findall(text)),
            len(SPACED_OUT.findall(text)),
            len(LEET.findall(text)),
            len(REPEAT.findall(text)),
            text.count("!"),
            sum(c.isupper() for c in text) / letters * 3,
            sum(c.isdigit() for c in text) / n * 5,
            np.log1p(len(text)) / 3,
            np.log1p(len(text.split())) / 2,
        )
    return sparse.csr_matrix(np.tanh(rows))


def build_spam_pipeline(C: float = 4.0, calibration_folds: int = 5, random_state: int = 0) -> Pipeline:
    """The default spam model: word and character n-grams plus signals, a calibrated logistic regression."""
    features = FeatureUnion([
        ("words", TfidfVectorizer(
            preprocessor=feature_text, token_pattern=r"(?u)\b\w\w+\b|[!?$£€]", ngram_range=(1, 2),
            min_df=2, max_df=0.5, sublinear_tf=True, dtype=np.float32,
        )),
        ("chars", TfidfVectorizer(
            analyzer="char_wb", lowercase=True, ngram_range=(2, 5), min_df=3, max_features=150_000,
            sublinear_tf=True, dtype=np.float32,
        )),
        ("signals", FunctionTransformer(signal_features, accept_sparse=True)),
    ])
    classifier = CalibratedClassifierCV(
        LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=random_state),
        method="sigmoid", cv=calibration_folds, ensemble=False,
    )
    return Pipeline([
        ("normalise", FunctionTransformer(normalise_all)),
        ("features", features),
        ("classifier", classifier),
    ])


def spam_scores(pipeline: Pipeline, texts) -> np.ndarray:
    """Calibrated probability that each text is spam (class 1)."""
    return pipeline.predict_proba(list(texts))[:, 1]
