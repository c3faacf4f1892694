"""Diversity: how spread out members' attributes are, and how varied the texts are."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import entropy

WORD = re.compile(r"\w+(?:['’]\w+)*")


def normalized_entropy(
    values: Iterable[Hashable],
    *,
    allowed_values: Sequence[Hashable] | None = None,
) -> float:
    """Shannon entropy of the values divided by its maximum, log K, in [0, 1].

    H = −Σ pᵥ log pᵥ (Shannon 1948) over the shares of each value, divided by
    log K where K is the number of allowed values (Pielou's evenness J′,
    Pielou, "The measurement of diversity in different types of biological
    collections", J. Theor. Biol. 13, 1966). 1 means members are spread evenly
    over every allowed value; 0 means they all share one value.

    Pass the attribute's `allowed_values` so that values nobody chose count
    against diversity; without them K is the number of distinct values seen.
    Missing values are left out. Edge cases: K ≤ 1 gives 0.0 (no spread is
    possible, so there is no diversity to report); no values at all gives NaN.
    """
    observed = pd.Series(list(values), dtype=object).dropna()
    counts = observed.value_counts()
    if allowed_values is not None:
        outside = set(counts.index) - set(allowed_values)
        if outside:
            raise ValueError(f"values outside the allowed values: {sorted(map(str, outside))}")
        k = len(set(allowed_values))
    else:
        k = len(counts)
    if counts.empty:
        return float("nan")
    if k <= 1:
        return 0.0
    return float(entropy(counts.to_numpy(dtype=float)) / math.log(k))


def tokenize(text: str) -> list[str]:
    """Lowercase words: runs of letters, digits and underscores, keeping inner apostrophes.

    "Don't stop, A.I.!" → ["don't", "stop", "a", "i"]. Punctuation is dropped.
    """
    return WORD.findall(text.lower())


def distinct_n(texts: Iterable[str], *, n: int) -> float:
    """distinct-n: distinct n-grams divided by all n-grams, over a list of texts.

    Li et al., "A Diversity-Promoting Objective Function for Neural
    Conversation Models", NAACL 2016, §4.3. N-grams are counted over the
    whole list (so a phrase repeated across texts counts once as distinct)
    and never span two texts; texts are split with `tokenize`. Li et al.
    scale by the number of tokens; this uses the number of n-grams, as most
    later work does, so distinct-2 of a single two-word text is 1. Values lie
    in (0, 1]; NaN when the texts hold no n-gram.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = tokenize(text)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else float("nan")


def lexical_diversity(texts: Iterable[str]) -> dict[str, float]:
    """distinct-1 and distinct-2 of the texts (see `distinct_n`)."""
    counter = LexicalDiversity()
    counter.update(texts)
    return counter.result()


class LexicalDiversity:
    """distinct-1 and distinct-2 (see `distinct_n`) over texts given batch by batch.

    Gives what `lexical_diversity` gives for all the texts at once, but keeps
    only the distinct words and word pairs (as integer ids), not the texts, so
    a release can feed it one chunk at a time. Texts are split on whitespace
    by Arrow first (a word never spans whitespace), then each distinct piece
    into words (see `_vocabulary`), so the words are `tokenize`'s words.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # word -> id
        self._pieces: dict[str, list[int]] = {}  # whitespace-separated piece -> word ids
        self._pairs = np.zeros(0, dtype=np.int64)  # distinct pairs as id·2³² + id, sorted
        self._new_pairs: list[np.ndarray] = []
        self._words = 0
        self._pair_count = 0

    def _words_of(self, piece: str) -> list[int]:
        words = self._pieces.get(piece)
        if words is None:
            ids = self._ids
            words = self._pieces[piece] = [
                ids.setdefault(word, len(ids)) for word in WORD.findall(piece.lower())
            ]
        return words

    def _vocabulary(self, pieces: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Word ids of each distinct piece: (first position in the returned ids, count, ids).

        Pieces of plain ASCII without an apostrophe are split by Arrow: on ASCII, Python's
        ``\\w`` and RE2's are the same class, so the words are `tokenize`'s words. Other
        pieces go through `tokenize` once each (and are remembered).
        """
        plain = pc.and_(
            pc.string_is_ascii(pieces), pc.invert(pc.match_substring(pieces, "'"))
        ).to_numpy(zero_copy_only=False)
        plain_at, other_at = np.flatnonzero(plain), np.flatnonzero(~plain)
        parts = pc.split_pattern_regex(pc.ascii_lower(pieces.take(plain_at)), pattern=r"\W+")
        segments = parts.flatten()
        real = pc.greater(pc.binary_length(segments), 0)
        words = segments.filter(real).dictionary_encode()
        ids = self._ids
        word_ids = np.fromiter(
            (ids.setdefault(word, len(ids)) for word in words.dictionary.to_pylist()),
            dtype=np.int64,
            count=len(words.dictionary),
        )
        plain_ids = word_ids[words.indices.to_numpy()]
        piece_of_segment = np.repeat(
            np.arange(len(plain_at)), pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        )
        plain_sizes = np.bincount(
            piece_of_segment[real.to_numpy(zero_copy_only=False)], minlength=len(plain_at)
        )
        found = [self._words_of(piece) for piece in pieces.take(other_at).to_pylist()]
        other_sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        other_ids = np.fromiter(
            itertools.chain.from_iterable(found), np.int64, int(other_sizes.sum())
        )
        sizes = np.zeros(len(pieces), dtype=np.int64)
        sizes[plain_at], sizes[other_at] = plain_sizes, other_sizes
        starts = np.zeros(len(pieces), dtype=np.int64)
        starts[plain_at] = np.cumsum(plain_sizes) - plain_sizes
        starts[other_at] = len(plain_ids) + np.cumsum(other_sizes) - other_sizes
        return starts, sizes, np.concatenate([plain_ids, other_ids])

    def update(self, texts: Iterable[str] | pa.Array) -> None:
        if not isinstance(texts, pa.Array):
            texts = pa.array(list(texts), pa.string())
        pieces = pc.utf8_split_whitespace(texts.drop_null())
        per_text = pc.list_value_length(pieces).to_numpy(zero_copy_only=False)
        encoded = pieces.flatten().dictionary_encode()
        starts, sizes, vocabulary = self._vocabulary(encoded.dictionary)
        piece = encoded.indices.to_numpy()
        n = sizes[piece]  # words of each piece, in text order
        total = int(n.sum())
        if not total:
            return
        offsets = np.cumsum(n) - n
        words = vocabulary[np.repeat(starts[piece] - offsets, n) + np.arange(total)]
        text = np.repeat(np.repeat(np.arange(len(per_text)), per_text), n)
        pairs = ((words[:-1] << 32) | words[1:])[text[:-1] == text[1:]]
        self._words += total
        self._pair_count += len(pairs)
        self._new_pairs.append(np.unique(pairs))
        if sum(map(len, self._new_pairs)) > len(self._pairs):
            self._merge()

    def _merge(self) -> None:
        self._pairs = np.unique(np.concatenate([self._pairs, *self._new_pairs]))
        self._new_pairs = []

    @property
    def words(self) -> int:
        """Words counted so far: what distinct-1 is a share of."""
        return self._words

    def result(self) -> dict[str, float]:
        self._merge()
        nan = float("nan")
        return {
            "distinct_1": len(self._ids) / self._words if self._words else nan,
            "distinct_2": len(self._pairs) / self._pair_count if self._pair_count else nan,
        }
