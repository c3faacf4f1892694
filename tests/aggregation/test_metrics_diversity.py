import math
import random

import pyarrow as pa
import pytest

from aggregation.metrics import (
    LexicalDiversity,
    distinct_n,
    lexical_diversity,
    normalized_entropy,
    tokenize,
)


def test_normalized_entropy_hand_worked():
    # Even over 2 allowed values: H = log 2, K = 2 → 1.
    assert normalized_entropy(["a", "a", "b", "b"]) == pytest.approx(1.0)
    # Same members, 4 allowed values: log 2 / log 4 = 0.5.
    assert normalized_entropy(["a", "a", "b", "b"], allowed_values="abcd") == pytest.approx(0.5)
    # (3/4, 1/4): H = −(.75 ln .75 + .25 ln .25) = 0.562335; / ln 2 = 0.811278 bits.
    assert normalized_entropy(["a", "a", "a", "b"]) == pytest.approx(0.811278, abs=1e-6)


def test_normalized_entropy_edge_cases():
    # K ≤ 1 → 0 (no spread possible); nobody → NaN; missing values are ignored.
    assert normalized_entropy(["a", "a"]) == 0.0
    assert normalized_entropy(["a"], allowed_values=["a"]) == 0.0
    assert math.isnan(normalized_entropy([], allowed_values=["a", "b"]))
    assert normalized_entropy(["a", None, "b"]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        normalized_entropy(["z"], allowed_values=["a", "b"])


def test_tokenize_lowercases_words_and_keeps_contractions():
    assert tokenize("Don't stop, A.I.!") == ["don't", "stop", "a", "i"]


def test_distinct_n_hand_worked():
    # Tokens: the cat sat | the cat ran → 6 unigrams, 4 distinct (the, cat, sat, ran) → 2/3.
    # Bigrams: (the cat) (cat sat) | (the cat) (cat ran) → 4, 3 distinct → 0.75.
    # No bigram spans the two texts.
    texts = ["The cat sat.", "the CAT ran"]
    assert distinct_n(texts, n=1) == pytest.approx(4 / 6)
    assert distinct_n(texts, n=2) == pytest.approx(3 / 4)
    assert lexical_diversity(texts) == pytest.approx({"distinct_1": 4 / 6, "distinct_2": 3 / 4})


def test_distinct_n_without_ngrams_is_nan():
    assert math.isnan(distinct_n(["one"], n=2))
    assert math.isnan(distinct_n([], n=1))


def test_lexical_diversity_fed_in_batches_counts_as_one_list():
    # Odd whitespace (tab, no-break and em space, a control separator), case that lowers
    # to more than one letter, apostrophes at word edges, empty and missing texts.
    texts = [
        "The cat\tsat.",
        "the CAT\u00a0ran",
        "",
        "'quoted' don't\u2003İstanbul",
        "a\x1cb a b",
        "ΣΟΦΟΣ σοφος",
    ]
    expected = {"distinct_1": distinct_n(texts, n=1), "distinct_2": distinct_n(texts, n=2)}
    assert lexical_diversity(texts) == expected
    counter = LexicalDiversity()
    for start in range(0, len(texts), 2):
        counter.update(texts[start : start + 2])
    counter.update([])
    assert counter.result() == expected
    assert math.isnan(LexicalDiversity().result()["distinct_1"])


def test_lexical_diversity_matches_distinct_n_on_random_text():
    # Plain ASCII pieces are split by Arrow, the others by `tokenize`: both must give
    # `tokenize`'s words, whatever mix of punctuation, apostrophes and scripts a text has.
    rng = random.Random(7)
    alphabet = [*"abcXYZ019_ .,:;!?-'\"()/\t\n", "’", "é", "İ", "ß", "中", "\u00a0", "😀"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)]
    texts += ["Question 17: how? don't--stop_it (x2)", "it's 'quoted' a''b'", None]
    present = [text for text in texts if text is not None]
    expected = {"distinct_1": distinct_n(present, n=1), "distinct_2": distinct_n(present, n=2)}
    counter = LexicalDiversity()
    for start in range(0, len(texts), 37):
        counter.update(pa.array(texts[start : start + 37], pa.string()))
    assert counter.result() == expected
