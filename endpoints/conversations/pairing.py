"""Which endpoints answer: balanced arena pairs, a turn's draw, the shown order. Pure.

Arena (Chiang et al., 2024, "Chatbot Arena", section 3: battles between two anonymous
models; its later sampling aims at an even number of battles per pair): each battle
takes a pair with the fewest battles so far, at random among ties, so after n battles
between m endpoints no pair has more than one battle more than another when battles
start one after the other (concurrent starts may both take the same least-used pair:
"about the same"). Either endpoint is equally likely to be asked first.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence

Pair = tuple[int, int]


def pair_key(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def arena_pair(
    endpoint_ids: Sequence[int], battles: Mapping[Pair, int], rng: random.Random
) -> Pair:
    """Two distinct endpoints for the next battle: a least-battled pair (keys of
    ``battles`` as `pair_key` gives them; absent pairs have had none), in random order."""
    ids = sorted(set(endpoint_ids))
    if len(ids) < 2:
        raise ValueError("An arena needs at least two endpoints.")
    pairs = list(itertools.combinations(ids, 2))
    fewest = min(battles.get(pair, 0) for pair in pairs)
    pair = list(rng.choice([pair for pair in pairs if battles.get(pair, 0) == fewest]))
    rng.shuffle(pair)
    return pair[0], pair[1]


def turn_endpoints(endpoint_ids: Sequence[int], count: int, rng: random.Random) -> list[int]:
    """``count`` of the campaign's endpoints for one turn, uniformly at random (all of them,
    shuffled, when it has no more)."""
    ids = sorted(set(endpoint_ids))
    return rng.sample(ids, min(count, len(ids)))


def shown_order(reply_ids: Sequence[str], rng: random.Random) -> list[str]:
    """The order the replies are shown in: a uniform shuffle, so position says nothing
    about which endpoint wrote a reply."""
    order = list(reply_ids)
    rng.shuffle(order)
    return order
