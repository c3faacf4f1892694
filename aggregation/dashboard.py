"""What the coverage dashboard and a researcher's campaign page show, and how it stays fast.

Two kinds of numbers, from two places:

- metrics (items at k, responses and participants as a release counts them,
  observed against target shares, the busiest participants, Krippendorff's α)
  come from `release.pipeline.campaign_metrics`, the one metric entry point. Computing
  them reads every judgement, so they are stored in a `MetricsSnapshot` by the
  periodic alert check (`alerts.alerts_check_all`) and read from there. A page
  recomputes them on view only for a small campaign whose snapshot is older
  than `SNAPSHOT_MAX_AGE`, which keeps the demo and young campaigns current
  while a campaign of a million responses is never computed on a request;
- live counts: slots filled and leased (a GROUP BY over the campaign's slots)
  and responses per day (the check stores the days it counted; a page adds
  the responses that came in since, read from the campaign's time index).

A built campaign board (its numbers and the description of its charts) is
kept in Django's cache for `BOARD_CACHE_SECONDS`; charts are drawn when the
browser fetches them and cached by a hash of their numbers (`chart_svg`).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from aggregation import alerts, charts, selectors
from aggregation.models import DEFAULT_OPTIONS, CoverageAlert, MetricsSnapshot
from aggregation.release import pipeline
from collection.models import Audience, Campaign, CampaignAudience, Participant
from collection.selectors import SlotCounts, slot_counts_by_audience, slot_counts_by_campaign

# Twice the period of the alert check in CELERY_BEAT_SCHEDULE (5 minutes), so that
# with the check running a page never computes.
SNAPSHOT_MAX_AGE = timedelta(minutes=10)
# Live responses up to which a stale snapshot is recomputed while the page waits
# (about a second of campaign_metrics on two cores).
INLINE_LIMIT = 50_000
BOARD_CACHE_SECONDS = 30
DAYS = 14
TOP_PARTICIPANTS = 20
# The dashboard is for the people who run the campaign, so small attribute cells
# are shown (releases suppress them; see DEFAULT_OPTIONS["min_cell_size"]).
METRIC_OPTIONS = {"min_cell_size": 1}


# Metrics snapshots -----------------------------------------------------------------


TOP_SQL = f"""
SELECT audience_id, participant_id, responses FROM (
    SELECT r.audience_id, r.participant_id, count(*) AS responses,
           row_number() OVER (PARTITION BY r.audience_id
                              ORDER BY count(*) DESC, r.participant_id) AS place
    FROM collection_response r
    JOIN collection_item i ON i.id = r.item_id AND NOT i.is_attention_check
    WHERE {selectors.LIVE_RESPONSES} AND r.participant_id <> ALL(%(excluded)s)
    GROUP BY r.audience_id, r.participant_id
) AS ranked
WHERE place <= %(limit)s
ORDER BY audience_id, place
"""


def top_participants(*, campaign: Campaign, limit: int = TOP_PARTICIPANTS) -> dict[str, list]:
    """The busiest participants of each audience, counting responses as the metrics do
    (the release's scope: `selectors.participants_in_selection` decides who is left out)."""
    scope = selectors.ReleaseSelection(
        campaign=campaign,
        audiences=tuple(selectors.selection_audiences(campaign=campaign)),
        exclude_failed_attention=DEFAULT_OPTIONS["exclude_failed_attention"],
        attention_failures_allowed=DEFAULT_OPTIONS["attention_failures_allowed"],
    )
    excluded = selectors.participants_in_selection(scope).excluded_ids
    slugs = {audience.id: audience.slug for audience in scope.audiences}
    result: dict[str, list] = {slug: [] for slug in slugs.values()}
    with connection.cursor() as cursor:
        cursor.execute(
            TOP_SQL,
            {
                "campaign": campaign.pk,
                "audiences": list(slugs),
                "snapshot": None,
                "excluded": [int(value) for value in excluded],
                "limit": limit,
            },
        )
        for audience_id, participant_id, responses in cursor.fetchall():
            result[slugs[audience_id]].append(
                {"participant_id": participant_id, "responses": responses}
            )
    return result


def metrics_snapshot_refresh(*, campaign: Campaign) -> MetricsSnapshot:
    """Compute the campaign's metrics now and store them for the dashboard."""
    started = time.perf_counter()
    metrics = pipeline.campaign_metrics(campaign=campaign, options=METRIC_OPTIONS)
    top = top_participants(campaign=campaign)
    until = timezone.now()
    days = last_days(timezone.localdate(until))
    counts = daily_submissions(campaign=campaign, since=_day_start(days[0]), until=until)
    snapshot, _ = MetricsSnapshot.objects.update_or_create(
        campaign=campaign,
        defaults={
            "metrics": metrics,
            "top_participants": top,
            "daily": {
                "until": until.isoformat(),
                "counts": {
                    str(audience_id): {day.isoformat(): n for day, n in by_day.items()}
                    for audience_id, by_day in counts.items()
                },
            },
            "computed_at": timezone.now(),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    board_cache_clear(campaign_id=campaign.pk)
    return snapshot


# Live counts -----------------------------------------------------------------------


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def slot_counts(*, campaign: Campaign, now: datetime) -> dict[int, SlotCounts]:
    """Per audience: slots, filled slots and slots under a live lease (one GROUP BY)."""
    return slot_counts_by_audience(campaign=campaign, now=now)


def daily_submissions(
    *, campaign: Campaign, since: datetime, until: datetime | None = None
) -> dict[int, dict[date, int]]:
    """Per audience and day (in the site's time zone): responses submitted in
    [since, until) and not withdrawn, attention checks included (this is activity,
    not data)."""
    tz = timezone.get_current_timezone()
    result: dict[int, dict[date, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT audience_id, (created_at AT TIME ZONE %(tz)s)::date AS day, count(*)
            FROM collection_response
            WHERE campaign_id = %(campaign)s AND created_at >= %(since)s
              AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
              AND withdrawn_at IS NULL
            GROUP BY audience_id, day
            """,
            {"campaign": campaign.pk, "since": since, "until": until, "tz": str(tz)},
        )
        for audience_id, day, count in cursor.fetchall():
            result.setdefault(audience_id, {})[day] = count
    return result


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())


def daily_counts(
    *, campaign: Campaign, days: list[date], snapshot: MetricsSnapshot | None
) -> dict[int, dict[date, int]]:
    """Responses per audience and day over ``days``: the days the last check counted,
    plus what came in since (a scan of the newest rows on the campaign's time index,
    not of the whole window). Withdrawals after the check show at the next one."""
    stored = (snapshot.daily or {}) if snapshot else {}
    if not stored.get("until"):
        return daily_submissions(campaign=campaign, since=_day_start(days[0]))
    until = datetime.fromisoformat(stored["until"])
    result: dict[int, dict[date, int]] = {}
    for audience_id, counts in stored["counts"].items():
        result[int(audience_id)] = {
            date.fromisoformat(day): count
            for day, count in counts.items()
            if date.fromisoformat(day) >= days[0]
        }
    since = max(until, _day_start(days[0]))
    for audience_id, counts in daily_submissions(campaign=campaign, since=since).items():
        mine = result.setdefault(audience_id, {})
        for day, count in counts.items():
            mine[day] = mine.get(day, 0) + count
    return result


def last_days(today: date, count: int = DAYS) -> list[date]:
    return [today - timedelta(days=count - 1 - n) for n in range(count)]


# The board -------------------------------------------------------------------------


@dataclasses.dataclass
class Stratum:
    value: str
    count: int | None
    observed: float | None
    target: float | None
    gap: float | None
    under: bool

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
    daily_chart: charts.ChartSpec | None = None

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


# Audiences from the widest to the narrowest scope (SPEC.md, "Scopes of alignment").
KIND_ORDER = [kind.value for kind in Audience.Kind]

AGREEMENT_LEVELS = {
    "choice": ("alpha_nominal", "nominal"),
    "ranking": ("alpha_ordinal", "ordinal"),
    "ratings": ("alpha_interval", "interval"),
}


def _agreement(report: dict) -> list[Agreement]:
    rows = []
    for judgement, values in (report.get("agreement") or {}).items():
        key, level = AGREEMENT_LEVELS.get(judgement, ("", ""))
        rows.append(
            Agreement(
                judgement=judgement,
                level=level,
                alpha=values.get(key),
                percent_agreement=values.get("percent_agreement"),
                units=values.get("units", 0),
            )
        )
    return rows


def _attributes(audience: Audience, coverage: dict, limits: alerts.Thresholds) -> list:
    """Observed against target shares of the attributes that have targets, attributes
    and values in the schema's order."""
    judged = (coverage.get("participants") or 0) >= limits.min_participants
    reported = coverage.get("attributes", {})
    schema = [
        item
        for item in audience.attribute_schema
        if item["name"] in reported and audience.target_marginals.get(item["name"])
    ]
    result = []
    for item in schema:
        entry = reported[item["name"]]
        order = {str(value): n for n, value in enumerate(item.get("choices", []))}
        rows = sorted(entry["values"], key=lambda row: order.get(str(row["value"]), len(order)))
        strata = [
            Stratum(
                value=str(row["value"]),
                count=row["count"],
                observed=row["observed_share"],
                target=row["target_share"],
                gap=row["gap"],
                under=judged
                and alerts.is_under_covered(
                    row["observed_share"], row["target_share"], limits=limits
                ),
            )
            for row in rows
        ]
        result.append(
            AttributeCoverage(
                name=item["name"],
                label=item.get("label") or item["name"],
                strata=strata,
                largest_gap=entry.get("largest_gap"),
                total_variation_distance=entry.get("total_variation_distance"),
            )
        )
    return result


def _dominant(
    top: list[dict], coverage: dict, limits: alerts.Thresholds, *, staff: bool
) -> tuple[list[Dominant], float]:
    found = alerts.dominance_findings("", "", coverage, top, limits)
    people = [finding.detail for finding in found]
    names = {}
    if staff and people:
        names = dict(
            Participant.objects.filter(pk__in=[p["participant_id"] for p in people]).values_list(
                "pk", "user__username"
            )
        )
    limit = alerts.dominance_limit(coverage.get("participants") or 0, limits=limits)
    return [
        Dominant(
            participant_id=p["participant_id"],
            username=names.get(p["participant_id"], ""),
            responses=p["responses"],
            share=p["share"],
        )
        for p in people
    ], limit


def _snapshot_for(campaign: Campaign, filled: int) -> MetricsSnapshot | None:
    """The stored metrics; recomputed first when stale and the campaign is small."""
    snapshot = MetricsSnapshot.objects.filter(campaign=campaign).first()
    fresh = snapshot is not None and snapshot.computed_at >= timezone.now() - SNAPSHOT_MAX_AGE
    if fresh or filled > INLINE_LIMIT:
        return snapshot
    # One request computes; others meanwhile show what is stored.
    lock = f"dashboard:refreshing:{campaign.pk}"
    if not cache.add(lock, True, 120):
        return snapshot
    try:
        # Records alerts too, so the page's highlights and its alert list agree.
        alerts.alerts_check_campaign(campaign=campaign)
    finally:
        cache.delete(lock)
    return MetricsSnapshot.objects.filter(campaign=campaign).first()


def campaign_board(
    *, campaign: Campaign, staff: bool, now: datetime | None = None
) -> CampaignBoard:
    """Everything the dashboard shows about one campaign (cached for a few seconds)."""
    key = _board_key(campaign.pk, staff)
    board = cache.get(key)
    if board is not None:
        return board
    board = _build(campaign, staff=staff, now=now or timezone.now())
    cache.set(key, board, BOARD_CACHE_SECONDS)
    return board


def _board_key(campaign_id: int, staff: bool) -> str:
    return f"dashboard:board:{campaign_id}:{'staff' if staff else 'owner'}"


def board_cache_clear(*, campaign_id: int) -> None:
    cache.delete_many([_board_key(campaign_id, True), _board_key(campaign_id, False)])


def _build(campaign: Campaign, *, staff: bool, now: datetime) -> CampaignBoard:
    limits = alerts.thresholds()
    targets = sorted(
        CampaignAudience.objects.filter(campaign=campaign).select_related("audience"),
        key=lambda target: (KIND_ORDER.index(target.audience.kind), target.audience.slug),
    )
    slots = slot_counts(campaign=campaign, now=now)
    days = last_days(timezone.localdate(now))
    snapshot = _snapshot_for(campaign, sum(counts.filled for counts in slots.values()))
    daily = daily_counts(campaign=campaign, days=days, snapshot=snapshot)
    metrics = snapshot.metrics.get("audiences", {}) if snapshot else {}
    top = snapshot.top_participants if snapshot else {}

    audiences = []
    for target in targets:
        audience = target.audience
        row = AudienceBoard(
            id=audience.pk,
            slug=audience.slug,
            name=audience.name,
            kind=audience.kind,
            kind_label=audience.get_kind_display(),
            overlap_k=target.overlap_k,
            slots=slots.get(audience.pk, SlotCounts()),
            per_day=[daily.get(audience.pk, {}).get(day, 0) for day in days],
        )
        report = metrics.get(audience.slug)
        if report is not None:
            coverage = report["coverage"]
            row.items = coverage["items"]
            row.items_at_k = coverage["items_at_k"]
            row.share_at_k = coverage["share_at_k"]
            row.responses = coverage["responses"]
            row.participants = coverage["participants"]
            row.responses_per_item_mean = coverage["responses_per_item_mean"]
            row.responses_per_item_min = coverage["responses_per_item_min"]
            row.gini = coverage["responses_per_participant_gini"]
            row.largest_share = coverage["largest_participant_share"]
            if audience.kind == Audience.Kind.PUBLIC and audience.target_marginals:
                row.attributes = _attributes(audience, coverage, limits)
            row.agreement = _agreement(report)
            row.dominant, row.dominance_limit = _dominant(
                top.get(audience.slug, []), coverage, limits, staff=staff
            )
        audiences.append(row)

    board = CampaignBoard(
        campaign_id=campaign.pk,
        slug=campaign.slug,
        name=campaign.name,
        status=campaign.status,
        status_label=campaign.get_status_display(),
        item_kind=campaign.item_kind,
        item_kind_label=campaign.get_item_kind_display(),
        days=days,
        audiences=audiences,
        snapshot_at=snapshot.computed_at if snapshot else None,
        snapshot_seconds=snapshot.seconds if snapshot else None,
        alerts=list(
            CoverageAlert.objects.filter(campaign=campaign, resolved_at__isnull=True)
            .select_related("audience")
            .order_by("audience__slug", "kind", "subject")
        ),
        built_at=now,
    )
    _chart_specs(board)
    return board


def _chart_specs(board: CampaignBoard) -> None:
    """Describe the board's charts (cheap); they are drawn when the browser asks."""
    if not board.audiences:
        return
    board.progress_chart = charts.progress_spec(
        [
            charts.ProgressBar(
                audience=audience.name,
                fill=audience.slots.fill,
                filled=audience.slots.filled,
                slots=audience.slots.slots,
                share_at_k=audience.share_at_k,
                items_at_k=audience.items_at_k,
                items=audience.items,
            )
            for audience in board.audiences
        ],
        title=f"Progress toward k: {board.name}",
    )
    board.daily_chart = charts.daily_spec(
        board.days,
        {audience.name: audience.per_day for audience in board.audiences},
        title=f"Responses per day, last {len(board.days)} days",
    )
    for audience in board.audiences:
        if audience.has_targets:
            audience.strata_chart = charts.strata_spec(
                f"strata-{audience.slug}",
                [
                    (
                        attribute.label,
                        [
                            charts.StratumBar(
                                value=stratum.value,
                                observed=stratum.observed,
                                target=stratum.target or 0.0,
                                under=stratum.under,
                            )
                            for stratum in attribute.strata
                        ],
                    )
                    for attribute in audience.attributes
                ],
                title=f"{audience.name}: participants against target shares",
            )


CHART_CACHE_SECONDS = 24 * 60 * 60


def chart_svg(spec: charts.ChartSpec) -> bytes:
    """The chart's SVG, drawn once per version of its numbers."""
    key = f"dashboard:chart:{spec.kind}:{spec.version}"
    svg = cache.get(key)
    if svg is None:
        svg = charts.render(spec)
        cache.set(key, svg, CHART_CACHE_SECONDS)
    return svg


def dashboard_boards(*, staff: bool = True) -> list[CampaignBoard]:
    """Boards of every open campaign, newest first."""
    campaigns = Campaign.objects.filter(status=Campaign.Status.OPEN).order_by("-created_at", "slug")
    return [campaign_board(campaign=campaign, staff=staff) for campaign in campaigns]


def open_alerts(*, campaigns=None) -> list[CoverageAlert]:
    queryset = CoverageAlert.objects.filter(resolved_at__isnull=True)
    if campaigns is not None:
        queryset = queryset.filter(campaign__in=campaigns)
    return list(
        queryset.select_related("campaign", "audience").order_by(
            "campaign__slug", "audience__slug", "kind", "subject"
        )
    )


def campaign_summaries(*, campaigns) -> list[dict]:
    """One row per campaign for the researcher's list: status, audiences, slot fill."""
    campaigns = list(campaigns.prefetch_related("targets__audience").order_by("-created_at"))
    fills: dict[int, SlotCounts] = {}
    if campaigns:
        fills = slot_counts_by_campaign(
            campaign_ids=[campaign.pk for campaign in campaigns], now=timezone.now()
        )
    counts = dict(
        CoverageAlert.objects.filter(campaign__in=campaigns, resolved_at__isnull=True)
        .values_list("campaign_id")
        .annotate(n=Count("id"))
        .values_list("campaign_id", "n")
    )
    return [
        {
            "campaign": campaign,
            "audiences": [target.audience for target in campaign.targets.all()],
            "slots": fills.get(campaign.pk, SlotCounts()),
            "open_alerts": counts.get(campaign.pk, 0),
        }
        for campaign in campaigns
    ]
