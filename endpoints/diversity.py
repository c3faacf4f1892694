"""Keeping the k samples that differ most, so pluralistic choices do not collapse into
near-copies (Community Alignment sampled more candidates than it showed for this)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

WORD = re.compile(r"\w+", re.UNICODE)


def _bigrams(text: str) -> frozenset:
    words = WORD.findall(text.casefold())
    if len(words) < 2:
        return frozenset(words)
    return frozenset(itertools.pairwise(words))


def lexical_distance(a: str, b: str) -> float:
    """1 − Jaccard similarity of the two texts' word bigrams (0: same, 1: nothing shared)."""
    left, right = _bigrams(a), _bigrams(b)
    if not left and not right:
        return 0.0
    return 1.0 - len(left & right) / len(left | right)


def most_diverse(texts: Sequence[str], k: int) -> list[int]:
    """Indices of ``k`` texts chosen by greedy farthest-point selection.

    Starts from the most distant pair, then adds the text whose smallest distance
    to those chosen is largest (ties: the earlier text), which approximates the
    subset with the greatest minimum pairwise distance. Returned in input order.
    """
    n = len(texts)
    if k >= n:
        return list(range(n))
    if k <= 0:
        return []
    grams = [_bigrams(text) for text in texts]

    def distance(i: int, j: int) -> float:
        union = grams[i] | grams[j]
        return 1.0 - len(grams[i] & grams[j]) / len(union) if union else 0.0

    if k == 1:
        return [0]
    pairs = [(distance(i, j), -i, -j) for i in range(n) for j in range(i + 1, n)]
    _, i, j = max(pairs)
    chosen = [-i, -j]
    nearest = [min(distance(x, chosen[0]), distance(x, chosen[1])) for x in range(n)]
    while len(chosen) < k:
        best = max((x for x in range(n) if x not in chosen), key=lambda x: (nearest[x], -x))
        chosen.append(best)
        nearest = [min(nearest[x], distance(x, best)) for x in range(n)]
    return sorted(chosen)
