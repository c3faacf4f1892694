"""The release's deterministic train/test splits, by participant and by item.

A participant's or an item's side is a function of the export's ``split_seed`` and an
internal id alone (a SplitMix64 hash: Steele, Lea and Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014), so the same data and seed give the same
split in every build, and a newer release of the campaign keeps each item, and each
person in each audience, on the side they were. A person's hash mixes in the audience,
so their sides in two audiences are independent and do not link them across audiences.

The test side is whoever hashes below ``test_percent``; when that leaves a side empty
and there are two or more to split, the one with the lowest hash (for test) or the
highest (for train) moves, so both splits exist for `datasets` to load.
"""

from __future__ import annotations

import numpy as np

MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on each value (the paper's ``mix64``, with the
    finaliser constants of Java's SplittableRandom), wrapping at 2**64."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hashes(ids: np.ndarray, *, seed: int, salt: int = 0) -> np.ndarray:
    """A uniform 64-bit hash of each id under (seed, salt)."""
    with np.errstate(over="ignore"):
        key = _splitmix64(np.asarray([seed], dtype=np.uint64))[0] ^ np.uint64(salt)
        return _splitmix64(_splitmix64(np.asarray(ids, dtype=np.int64).view(np.uint64)) ^ key)


def on_test_side(ids: np.ndarray, *, seed: int, test_percent: int, salt: int = 0) -> np.ndarray:
    """Which of ``ids`` are on the test side (a bool per id, in the given order)."""
    h = hashes(ids, seed=seed, salt=salt)
    test = h < np.uint64(test_percent * ((1 << 64) // 100))
    if len(ids) >= 2:
        if not test.any():
            test[np.argmin(h)] = True
        if test.all():
            test[np.argmax(h)] = False
    return test


def participants_held_out(
    ids: np.ndarray, *, audience_id: int, seed: int, test_percent: int
) -> np.ndarray:
    """The participants (sorted ids of one audience) on the test side of the split by
    participant: held out of its train split, and the people of the context/query view."""
    return on_test_side(ids, seed=seed, test_percent=test_percent, salt=audience_id + 1)


def items_on_test_side(item_ids: np.ndarray, *, seed: int, test_percent: int) -> np.ndarray:
    """The sorted ids of the items on the test side of the split by item (unseen prompts);
    the same for every audience of the release."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    return np.sort(item_ids[on_test_side(item_ids, seed=seed, test_percent=test_percent)])


# Up to this many judgements, a release built with ``split_views: "auto"`` has the split
# views. They write the strict pairs (with each chunk's text) again, once per split
# file: measured at 1,000,000 judgements (benchmarks/README.md, "Release building") they
# were 40% of the build's CPU and 36 of its 60 MB of Parquet. Below this they cost
# under a second; above it a researcher asks for them (``split_views: true``), or
# splits `preferences` by the ``split`` column of `participants`.
SPLIT_VIEWS_AUTO_LIMIT = 200_000


def split_views_wanted(option: bool | str, *, judgements: int) -> bool:
    """Whether a release of ``judgements`` builds the split views under the export's
    ``split_views`` option (true, false or "auto")."""
    if option == "auto":
        return judgements <= SPLIT_VIEWS_AUTO_LIMIT
    return bool(option)
