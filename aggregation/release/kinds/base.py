"""What an item kind contributes to releases (`ReleaseKind`), and the registry.

The collection side of a kind (`collection.kinds`) checks and shows its items and
answers; this side says what its releases hold. The pipeline, the card, the export
jobs and the metrics ask `get(campaign.item_kind)` and never branch on the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from aggregation import selectors
from aggregation.metrics.document import KindMetrics
from collection.kinds import Registry

if TYPE_CHECKING:
    from aggregation.release.datasets import Dataset
    from aggregation.release.plots import Drawer
    from collection.models import Campaign


class ReleaseKind:
    """What one item kind's releases hold; a module subclasses this and registers one
    instance under the collection kind's name."""

    name: ClassVar[str]
    # The datasets its releases write, in file order (`aggregation.release.datasets`).
    datasets: ClassVar[tuple[Dataset, ...]]
    # The card's YAML tags after "pluralign" (what the Hub lists the dataset under).
    card_tags: ClassVar[tuple[str, ...]]
    # Its judgement columns (`selectors.JUDGEMENT_COLUMNS` names) as SQL over the
    # response ``r``; rationale and confidence are read for every kind.
    judgement_columns: ClassVar[Mapping[str, str]] = {}
    # Its items' candidates as a JSON array, SQL over the item ``i``: none by default.
    candidates: ClassVar[str] = selectors.NO_CANDIDATES
    # Whether a response closes a conversation whose judged turns the datasets read.
    reads_turns: ClassVar[bool] = False
    # Whether its metrics hold agreement within each audience (the dashboard says so when not).
    measures_agreement: ClassVar[bool] = False
    # What it adds to metrics.json (`aggregation.metrics.document`), and the plots it
    # adds to the card (file name, and how to draw it from metrics.json's ``metrics``).
    metrics: ClassVar[KindMetrics | None] = None
    plots: ClassVar[tuple[Drawer, ...]] = ()

    def columns(self, campaign: Campaign) -> dict[str, str]:
        """The judgement columns a campaign of this kind reads (its settings may drop
        some); `judgement_columns` by default."""
        return dict(self.judgement_columns)

    def read(self, campaign: Campaign) -> selectors.JudgementRead:
        return selectors.JudgementRead(
            columns=self.columns(campaign), candidates=self.candidates, turns=self.reads_turns
        )


_registry: Registry[ReleaseKind] = Registry()
unregister = _registry.unregister
get = _registry.get
all = _registry.all  # noqa: A001  the registry's own vocabulary, as collection.kinds


def register(kind: ReleaseKind) -> ReleaseKind:
    names = [dataset.name for dataset in kind.datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"Kind {kind.name!r} lists a dataset twice: {names}.")
    # A dataset's name is its file's and its export option's: one object per name.
    clash = sorted(
        mine.name
        for other in _registry.all()
        if other.name != kind.name
        for theirs in other.datasets
        for mine in kind.datasets
        if mine.name == theirs.name and mine is not theirs
    )
    if clash:
        raise ValueError(f"Datasets {clash} are another kind's already.")
    return _registry.register(kind)


def dataset_names(item_kind: str) -> tuple[str, ...]:
    """The datasets an export of a campaign of ``item_kind`` may ask for, in file order."""
    return tuple(dataset.name for dataset in get(item_kind).datasets)


def dataset(name: str) -> Dataset:
    """A registered kind's dataset by name (a dataset several kinds list is one object)."""
    for kind in _registry.all():
        for found in kind.datasets:
            if found.name == name:
                return found
    raise KeyError(name)


def all_dataset_names() -> tuple[str, ...]:
    """Every registered kind's datasets, each once: each kind's own in registration and
    file order, then those several kinds list (the export API's choices)."""
    listed = [d.name for kind in _registry.all() for d in kind.datasets]
    shared = {name for name in listed if listed.count(name) > 1}
    return tuple(
        dict.fromkeys(
            [*(n for n in listed if n not in shared), *(n for n in listed if n in shared)]
        )
    )
