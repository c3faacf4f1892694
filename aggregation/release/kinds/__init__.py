"""Item kinds in releases: each kind is one module here that declares what its releases hold.

The collection side of a kind (`collection.kinds`) checks its items and answers and
shows them; this side says how its judgements are read (the response columns and the
items' candidates, as SQL), which datasets its releases write, the card's tags, what it
adds to metrics.json and which plots. The pipeline, the card and the export jobs ask
`get(campaign.item_kind)` instead of branching on the kind's name.

Adding a kind is one module that subclasses `ReleaseKind` and calls `register` (named in
`MODULES` so it loads with this package), beside its module in `collection.kinds`.
"""

from __future__ import annotations

import importlib

from aggregation.release.kinds.base import (
    ReleaseKind,
    all,  # noqa: A004  the registry's own vocabulary: kinds.all()
    all_dataset_names,
    dataset,
    dataset_names,
    get,
    register,
    unregister,
)
from collection.kinds import UnknownKind  # one error for either side's registry

__all__ = [
    "MODULES",
    "ReleaseKind",
    "UnknownKind",
    "all",
    "all_dataset_names",
    "dataset",
    "dataset_names",
    "get",
    "register",
    "unregister",
]

# The order of the registry, which is the order of every kind's choices (as `collection.kinds`).
MODULES = ("preference", "demonstration", "qa", "rating", "conversation")

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")
