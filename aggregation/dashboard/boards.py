"""What a campaign board shows: its audiences, strata, attribute coverage, agreement and
dominant participants, as plain dataclasses the templates read."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from aggregation import charts
from aggregation.models import CoverageAlert
from aggregation.monitoring.selectors import SlotCounts


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


# The board -------------------------------------------------------------------------


@dataclasses.dataclass
class Stratum:
    value: str
    count: int | None
    observed: float | None
    target: float | None
    gap: float | None
    under: bool
    # Under-coverage is judged once the audience has enough participants (alerts).
    judged: bool = True

    @property
    def status_label(self) -> str:
        if self.under:
            return "under-covered"
        if not self.count and self.target:
            return "no participants yet"
        if not self.judged:
            return "too few to judge"
        return "ok"

    @property
    def observed_percent(self) -> float | None:
        return _percent(self.observed)

    @property
    def target_percent(self) -> float | None:
        return _percent(self.target)

    @property
    def gap_points(self) -> float | None:
        return _percent(self.gap)


@dataclasses.dataclass
class AttributeCoverage:
    name: str
    label: str
    strata: list[Stratum]
    largest_gap: float | None
    total_variation_distance: float | None

    @property
    def under_count(self) -> int:
        return sum(stratum.under for stratum in self.strata)


@dataclasses.dataclass
class Agreement:
    judgement: str  # choice, ranking, ratings
    level: str
    alpha: float | None
    percent_agreement: float | None
    units: int
    # What α rests on: units judged at least twice, and the judgements in them.
    pairable_units: int = 0
    pairable_values: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    # Fewer pairable units than the minimum: the page says so instead of showing α.
    too_few: bool = True
    min_pairable_units: int | None = None

    @property
    def percent(self) -> float | None:
        return _percent(self.percent_agreement)


@dataclasses.dataclass
class Dominant:
    participant_id: int
    username: str  # staff only; empty for researchers
    responses: int
    share: float

    @property
    def share_percent(self) -> float:
        return self.share * 100


@dataclasses.dataclass
class AudienceBoard:
    id: int
    slug: str
    name: str
    kind: str
    kind_label: str
    overlap_k: int
    slots: SlotCounts
    per_day: list[int]
    # From campaign_metrics (None until a snapshot exists):
    items: int | None = None
    items_at_k: int | None = None
    share_at_k: float | None = None
    responses: int | None = None
    participants: int | None = None
    responses_per_item_mean: float | None = None
    responses_per_item_min: float | None = None
    gini: float | None = None
    largest_share: float | None = None
    dominance_limit: float | None = None
    attributes: list[AttributeCoverage] = dataclasses.field(default_factory=list)
    agreement: list[Agreement] = dataclasses.field(default_factory=list)
    dominant: list[Dominant] = dataclasses.field(default_factory=list)
    strata_chart: charts.ChartSpec | None = None

    @property
    def has_targets(self) -> bool:
        return bool(self.attributes) and any(
            stratum.target is not None
            for attribute in self.attributes
            for stratum in attribute.strata
        )

    @property
    def under_count(self) -> int:
        return sum(attribute.under_count for attribute in self.attributes)

    @property
    def window_total(self) -> int:
        return sum(self.per_day)

    @property
    def under_strata(self) -> list[str]:
        return [
            f"{attribute.label} {stratum.value}"
            for attribute in self.attributes
            for stratum in attribute.strata
            if stratum.under
        ]

    @property
    def main_agreement(self) -> Agreement | None:
        """The agreement of the campaign's own judgement (choice or ranking) first."""
        return self.agreement[0] if self.agreement else None

    @property
    def share_at_k_percent(self) -> float | None:
        return _percent(self.share_at_k)

    @property
    def largest_share_percent(self) -> float | None:
        return _percent(self.largest_share)

    @property
    def dominance_limit_percent(self) -> float | None:
        return _percent(self.dominance_limit)


@dataclasses.dataclass
class CampaignBoard:
    campaign_id: int
    slug: str
    name: str
    status: str
    status_label: str
    item_kind: str
    item_kind_label: str
    days: list[date]
    audiences: list[AudienceBoard]
    snapshot_at: datetime | None
    snapshot_seconds: float | None
    alerts: list[CoverageAlert]
    built_at: datetime
    progress_chart: charts.ChartSpec | None = None
    measures_agreement: bool = False  # the item kind's `ReleaseKind.measures_agreement`
    daily_chart: charts.ChartSpec | None = None
    # Computed for this page (a small, stale campaign), not read from a stored snapshot.
    snapshot_live: bool = False
    # No metrics yet, or stored ones older than build.SNAPSHOT_MAX_AGE: a refresh is due.
    snapshot_stale: bool = False
    # Adaptive overlap: the setting (None: off) and where the extra judgements went, per
    # audience (`aggregation.selectors.allocation.allocation_summary`).
    adaptive: object | None = None
    allocation: list = dataclasses.field(default_factory=list)
    # The engine's and the panel studies' quotas (`collection.quotas.QuotaBoard`), read
    # live by `build.with_live_quotas`, never cached with the board.
    quotas: list = dataclasses.field(default_factory=list)

    def chart(self, name: str) -> charts.ChartSpec | None:
        found = [self.progress_chart, self.daily_chart]
        found += [audience.strata_chart for audience in self.audiences]
        return next((spec for spec in found if spec is not None and spec.name == name), None)

    @property
    def submissions_in_window(self) -> int:
        return sum(sum(audience.per_day) for audience in self.audiences)

    @property
    def slots(self) -> SlotCounts:
        return SlotCounts(
            slots=sum(audience.slots.slots for audience in self.audiences),
            filled=sum(audience.slots.filled for audience in self.audiences),
            live_leases=sum(audience.slots.live_leases for audience in self.audiences),
        )

    @property
    def dominant_rows(self) -> list[tuple[AudienceBoard, Dominant]]:
        return [(audience, person) for audience in self.audiences for person in audience.dominant]

    @property
    def daily_rows(self) -> list[tuple[date, list[int], int]]:
        """Day, counts per audience (in audience order) and total: the chart's table."""
        return [
            (
                day,
                [audience.per_day[n] for audience in self.audiences],
                sum(audience.per_day[n] for audience in self.audiences),
            )
            for n, day in enumerate(self.days)
        ]
