"""Semantic relatedness (moderation/semantic.py): word vectors kept in the model, features, batch = one by one."""

import pickle

import numpy as np
import pytest

from moderation.moderator import Moderator
from moderation.registry import ModelRegistry
from moderation.relevance import _STOP, FEATURE_NAMES, Context, RelevanceModel, count_vectors
from moderation.semantic import SEMANTIC_FEATURES, WordVectors, semantic_features

# A toy vector space: a war topic, a shoe-shop topic and a generic direction.
WORDS = ["army", "forces", "city", "battle", "fighters", "shoe", "shoes", "boots", "great", "thanks"]
VECTORS = np.array([
    [1.0, 0.1, 0.0], [0.9, 0.2, 0.1], [0.8, 0.0, 0.3], [1.0, 0.0, 0.1], [0.95, 0.1, 0.0],
    [0.0, 1.0, 0.1], [0.1, 0.9, 0.0], [0.0, 0.95, 0.2], [0.2, 0.2, 1.0], [0.1, 0.3, 0.9],
])


@pytest.fixture(scope="module")
def toy():
    model = RelevanceModel.from_corpus(["the army and the forces", "great shoes thanks", "the battle for the city"])
    model.vectors = WordVectors.from_arrays(WORDS, VECTORS)
    return model


def column(x, name):
    return x[:, SEMANTIC_FEATURES.index(name)]


def test_a_word_far_from_the_article_is_less_related_than_one_near_it(toy):
    article = Context.build("Army forces enter the city", "The battle for the city: fighters flee.")
    texts = ["The army fights", "Shoe boots", "thanks", "zzzz qqqq"]
    x = semantic_features(toy, toy.vectors, texts, [article], np.zeros(len(texts), int), _STOP)
    assert column(x, "sem_mean")[0] > 0.9 > column(x, "sem_mean")[1]
    assert column(x, "sem_centroid")[0] > column(x, "sem_centroid")[1]
    assert column(x, "sem_gap")[1] > column(x, "sem_gap")[0]
    assert column(x, "sem_coverage").tolist() == [0.5, 1.0, 1.0, 0.0]  # "fights" has no toy vector
    # Nothing to measure (no word with a vector): neutral values, not "unrelated".
    assert x[3, :4].tolist() == [0.5, 0.5, 0.0, 0.0]


def test_batch_over_many_contexts_equals_one_by_one(toy):
    contexts = [Context.build("Army forces enter the city", "fighters flee"),
                Context.build("New shoes in the shop", "boots and shoes"),
                Context.build("", "")]
    texts = ["army battle", "shoes", "great thanks", "boots army", ""]
    context_of = np.array([0, 1, 0, 1, 2])
    batch = semantic_features(toy, toy.vectors, texts, contexts, context_of, _STOP)
    for i, text in enumerate(texts):
        alone = semantic_features(toy, toy.vectors, [text], [contexts[context_of[i]]], [0], _STOP)
        np.testing.assert_allclose(batch[i], alone[0], atol=1e-6)


def test_relevance_model_fills_the_semantic_columns_and_pickles_its_vectors(toy):
    article = Context.build("Army forces enter the city", "The battle for the city")
    texts = ["army forces", "shoes boots"]
    x = toy.features(count_vectors(texts), [article], np.zeros(2, int))
    start = FEATURE_NAMES.index(SEMANTIC_FEATURES[0])
    assert not x[:, start:].any()  # filled by fill_semantic, which has the texts
    toy.fill_semantic(x, texts, [article], np.zeros(2, int))
    assert x[0, start] > x[1, start]
    copy = pickle.loads(pickle.dumps(toy))
    assert copy.vectors.words == toy.vectors.words and copy.vectors.vectors.dtype == np.float16
    assert copy.vectors.index["shoe"] == WORDS.index("shoe")
    again = toy.features(count_vectors(texts), [article], np.zeros(2, int))
    copy.fill_semantic(again, texts, [article], np.zeros(2, int))
    np.testing.assert_allclose(again, x, atol=1e-6)


def test_the_trained_model_carries_its_vectors_and_uses_them(tiny_registry, seed_article):
    """The artifact is self-contained: the vectors are inside it, and they move the off-topic score."""
    model = ModelRegistry(tiny_registry.root).load()
    vectors = model.relevance.vectors
    assert 10_000 <= len(vectors) <= 60_000 and vectors.vectors.dtype == np.float16
    assert {"shoe", "army", "mosul"} <= set(vectors.index)
    article = Context.build(seed_article["title"], seed_article["body"])
    x = semantic_features(model.relevance, vectors, ["Iraqi troops", "Shoe shopping"], [article], [0, 0], _STOP)
    assert column(x, "sem_mean")[0] > column(x, "sem_mean")[1]
    moderator = Moderator(model)
    assert moderator.moderate("Iraqi troops", article=None, context=article).off_topic is not None


def test_relatedness_in_excess_of_the_word_baseline(toy):
    """A word close to every training article (a hub) gets a high baseline; only relatedness above it counts."""
    from moderation.semantic import word_baselines

    war = Context.build("Army forces enter the city", "fighters")
    shop = Context.build("Shoes and boots", "shoe shop")
    baseline = word_baselines(toy, toy.vectors, [war, shop])
    assert baseline.shape == (len(WORDS),) and baseline.dtype == np.float16
    assert np.isfinite(baseline).all() and baseline[WORDS.index("army")] > baseline[WORDS.index("great")]
    toy_with = pickle.loads(pickle.dumps(toy))
    toy_with.word_baseline = baseline
    texts, context_of = ["army battle", "shoes"], np.zeros(2, int)
    without = semantic_features(toy, toy.vectors, texts, [war], context_of, _STOP)
    excess = semantic_features(toy_with, toy_with.vectors, texts, [war], context_of, _STOP)
    assert not column(without, "sem_excess_mean").any()  # a model without baselines: neutral 0
    assert column(excess, "sem_excess_mean")[0] > 0 > column(excess, "sem_excess_mean")[1]
    np.testing.assert_allclose(excess[:, :5], without[:, :5])  # the other features do not change
