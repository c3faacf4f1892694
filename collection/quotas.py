"""The quota rule: how many places a group of people may hold, given targets.

Pure functions, no Django: the panel entry (`panels.services`) applies them under
a lock, and the campaign page shows the same numbers.

Two ways to state quotas, as recruitment panels do:

- *one attribute at a time*, from a public audience's target marginals: value v of
  attribute a may hold ``ceil(places * share(a, v))`` places. Rounding up keeps
  every value with a share reachable; the total is still capped at ``places``, so
  the sample is off target by at most one person per value.
- *crossed cells given explicitly*, like Prolific's representative samples (5 age
  bands x 2 sexes x 5 ethnicities = 50 cells, at least one place each and the rest
  in census proportion; Prolific, "Representative samples"): each cell names its
  attribute values and its places.

A person whose values have no place at all (a share of 0, or no crossed cell
matches) is screened out; one whose cell or value is full is over quota.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

OK = "ok"
SCREENED_OUT = "screened"
OVER_QUOTA = "overquota"


@dataclasses.dataclass(frozen=True)
class Quota:
    places: int
    # attribute -> value -> places (marginal quotas); empty with crossed cells
    values: Mapping[str, Mapping[str, int]]
    # explicit crossed cells: ({attribute: value}, places)
    cells: Sequence[tuple[Mapping[str, str], int]] = ()


@dataclasses.dataclass(frozen=True)
class Decision:
    outcome: str  # OK, SCREENED_OUT or OVER_QUOTA
    # What the place counts against: the crossed cell's values, or the person's
    # values of the quota's attributes.
    cell: dict
    reason: str


def marginal_places(target_marginals: Mapping[str, Mapping[str, float]], places: int) -> dict:
    return {
        attribute: {value: math.ceil(places * share - 1e-9) for value, share in shares.items()}
        for attribute, shares in target_marginals.items()
    }


def quota_for(
    *, places: int, target_marginals: Mapping[str, Mapping[str, float]], cells: Sequence[Mapping]
) -> Quota:
    if cells:
        return Quota(
            places=places,
            values={},
            cells=tuple((dict(cell["attributes"]), int(cell["places"])) for cell in cells),
        )
    return Quota(places=places, values=marginal_places(target_marginals, places))


def cell_key(cell: Mapping[str, str]) -> tuple:
    return tuple(sorted(cell.items()))


def decide(
    attributes: Mapping[str, str],
    quota: Quota,
    *,
    taken_total: int,
    taken: Mapping[tuple, int],
) -> Decision:
    """Whether a person with these attributes gets a place.

    ``taken`` counts the places already held per key: a crossed cell's
    ``cell_key``, or ``(attribute, value)`` for marginal quotas.
    """
    if quota.cells:
        for values, cell_places in quota.cells:
            if all(attributes.get(name) == value for name, value in values.items()):
                cell = dict(values)
                if cell_places <= 0:
                    return Decision(SCREENED_OUT, cell, "This study has no places for this group.")
                if taken.get(cell_key(cell), 0) >= cell_places or taken_total >= quota.places:
                    return Decision(OVER_QUOTA, cell, "The places for this group are taken.")
                return Decision(OK, cell, "")
        return Decision(SCREENED_OUT, {}, "This study has no places for this group.")
    cell = {name: attributes.get(name) for name in quota.values}
    for name, places_by_value in quota.values.items():
        if places_by_value.get(attributes.get(name), 0) <= 0:
            return Decision(SCREENED_OUT, cell, "This study has no places for this group.")
    if taken_total >= quota.places:
        return Decision(OVER_QUOTA, cell, "All places in this study are taken.")
    for name, places_by_value in quota.values.items():
        value = attributes.get(name)
        if taken.get((name, value), 0) >= places_by_value[value]:
            return Decision(OVER_QUOTA, cell, "The places for this group are taken.")
    return Decision(OK, cell, "")


def taken_keys(cell: Mapping[str, str], quota: Quota) -> list[tuple]:
    """The keys of ``taken`` that a place with this cell counts against."""
    if quota.cells:
        return [cell_key(cell)]
    return [(name, value) for name, value in cell.items()]


# What the researcher's pages show of the quotas ------------------------------------
#
# The engine (per public audience with targets of a campaign) and the panel studies
# each describe their quotas as boards of rows; a source is registered at start-up
# (`CollectionConfig.ready`, `PanelsConfig.ready`), so the campaign page and the
# coverage dashboard (aggregation) show both without importing panels.

HOLDING = "holding"
SCHEDULED = "scheduled"
RELEASED = "released"


@dataclasses.dataclass(frozen=True)
class QuotaRow:
    label: str
    places: int
    held: int  # filled plus in flight (live leases, places given and not yet finished)
    target_share: float | None = None
    filled: int | None = None

    @property
    def left(self) -> int:
        return max(self.places - self.held, 0)

    @property
    def in_flight(self) -> int | None:
        return None if self.filled is None else self.held - self.filled

    @property
    def full(self) -> bool:
        return self.places > 0 and self.held >= self.places


@dataclasses.dataclass(frozen=True)
class QuotaBoard:
    kind: str  # "engine" (slots of the campaign) or "panel" (places of a panel study)
    title: str
    audience: str
    unit: str  # what a place is: "slots", "places"
    total: QuotaRow
    rows: tuple[QuotaRow, ...]
    state: str  # HOLDING, SCHEDULED or RELEASED
    released_at: object = None  # a datetime, or None
    release_url: str = ""  # where "Release quotas now" posts; empty once released
    link: str = ""  # the board's own page (a panel study's)


def release_state(released_at, now) -> str:
    if released_at is None:
        return HOLDING
    return RELEASED if released_at <= now else SCHEDULED


_BOARD_SOURCES: list = []


def register_board_source(source) -> None:
    """``source(campaign, now) -> list[QuotaBoard]``; registered once."""
    if source not in _BOARD_SOURCES:
        _BOARD_SOURCES.append(source)


def campaign_quota_boards(campaign, now) -> list[QuotaBoard]:
    return [board for source in _BOARD_SOURCES for board in source(campaign, now)]
