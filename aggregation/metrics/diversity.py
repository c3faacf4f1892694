"""Diversity: how spread out members' attributes are, and how varied the texts are."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence

import pandas as pd
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
    texts = list(texts)
    return {"distinct_1": distinct_n(texts, n=1), "distinct_2": distinct_n(texts, n=2)}
