"""Building a board from monitoring's reads (never writing), computing stale metrics of a
small campaign on view, its chart specs, and caching boards and charts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from aggregation import alerts, charts
from aggregation.dashboard.boards import (
    Agreement,
    AttributeCoverage,
    AudienceBoard,
    CampaignBoard,
    Dominant,
    Stratum,
)
from aggregation.models import CoverageAlert, MetricsSnapshot
from aggregation.monitoring import selectors
from aggregation.monitoring.selectors import BOARD_CACHE_SECONDS, SlotCounts, board_cache_key
from aggregation.release import kinds
from aggregation.selectors import allocation
from collection import quotas
from collection.models import Audience, Campaign, CampaignAudience, Participant

# Twice the period of the alert check in CELERY_BEAT_SCHEDULE (5 minutes), so that
# with the check running a page never computes.
SNAPSHOT_MAX_AGE = timedelta(minutes=10)
# Live responses up to which a stale snapshot is recomputed while the page waits
# (about a second of campaign_metrics on two cores).
INLINE_LIMIT = 50_000


# Audiences from the widest to the narrowest scope (docs/architecture.md, "The words": scope).
KIND_ORDER = [kind.value for kind in Audience.Kind]

AGREEMENT_LEVELS = {
    "choice": ("alpha_nominal", "nominal"),
    "ranking": ("alpha_ordinal", "ordinal"),
    "ratings": ("alpha_interval", "interval"),
}


def _agreement(report: dict) -> list[Agreement]:
    rows = []
    for judgement, values in (report.get("agreement") or {}).items():
        # A rubric attribute of single-response ratings: interval α, as for ratings.
        key, level = AGREEMENT_LEVELS.get(judgement, ("alpha_interval", "interval"))
        interval = values.get(f"{key}_ci95") or [None, None]
        rows.append(
            Agreement(
                judgement=judgement,
                level=level,
                alpha=values.get(key),
                percent_agreement=values.get("percent_agreement"),
                units=values.get("units", 0),
                pairable_units=values.get("pairable_units", 0),
                pairable_values=values.get("pairable_values", 0),
                ci_low=interval[0],
                ci_high=interval[1],
                # A snapshot from before α carried its support counts as too few.
                too_few=values.get("too_few_overlapping_judgements", True),
                min_pairable_units=values.get("min_pairable_units"),
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
                judged=judged,
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


def _fresh(snapshot: MetricsSnapshot | None) -> bool:
    return snapshot is not None and snapshot.computed_at >= timezone.now() - SNAPSHOT_MAX_AGE


def _snapshot_for(campaign: Campaign, filled: int) -> MetricsSnapshot | None:
    """The stored metrics; when they are stale and the campaign is small, metrics
    computed now (unsaved: a page never writes, the periodic check stores them)."""
    snapshot = selectors.metrics_snapshot_stored(campaign=campaign)
    if _fresh(snapshot) or filled > INLINE_LIMIT:
        return snapshot
    key = f"dashboard:live:{campaign.pk}"
    live = cache.get(key)
    if _fresh(live):
        return live
    # One request computes; others meanwhile show what is stored.
    lock = f"dashboard:refreshing:{campaign.pk}"
    if not cache.add(lock, True, 120):
        return snapshot
    try:
        live = selectors.metrics_snapshot_compute(campaign=campaign)
    finally:
        cache.delete(lock)
    cache.set(key, live, int(SNAPSHOT_MAX_AGE.total_seconds()))
    return live


def _alerts_for(campaign: Campaign, snapshot: MetricsSnapshot | None, now: datetime) -> list:
    if snapshot is None or snapshot.pk is not None:
        return selectors.campaign_open_alerts(campaign=campaign)
    found = selectors.campaign_findings(campaign=campaign, snapshot=snapshot)
    return selectors.alerts_as_found(campaign=campaign, found=found, now=now)


def campaign_board(
    *, campaign: Campaign, staff: bool, now: datetime | None = None
) -> CampaignBoard:
    """Everything the dashboard shows about one campaign (cached for a few seconds)."""
    key = board_cache_key(campaign.pk, staff)
    board = cache.get(key)
    if board is not None:
        return board
    board = _build(campaign, staff=staff, now=now or timezone.now())
    cache.set(key, board, BOARD_CACHE_SECONDS)
    return board


def _build(campaign: Campaign, *, staff: bool, now: datetime) -> CampaignBoard:
    limits = alerts.thresholds()
    targets = sorted(
        CampaignAudience.objects.filter(campaign=campaign).select_related("audience"),
        key=lambda target: (KIND_ORDER.index(target.audience.kind), target.audience.slug),
    )
    slots = selectors.slot_counts(campaign=campaign, now=now)
    days = selectors.last_days(timezone.localdate(now))
    snapshot = _snapshot_for(campaign, sum(counts.filled for counts in slots.values()))
    daily = selectors.daily_counts(campaign=campaign, days=days, snapshot=snapshot)
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
        measures_agreement=kinds.get(campaign.item_kind).measures_agreement,
        days=days,
        audiences=audiences,
        snapshot_at=snapshot.computed_at if snapshot else None,
        snapshot_seconds=snapshot.seconds if snapshot else None,
        alerts=_alerts_for(campaign, snapshot, now),
        built_at=now,
        snapshot_live=snapshot is not None and snapshot.pk is None,
        snapshot_stale=snapshot is None or snapshot.computed_at < now - SNAPSHOT_MAX_AGE,
    )
    board.adaptive = allocation.adaptive_setting(campaign=campaign)
    if board.adaptive is not None or allocation.campaign_has_allocations(campaign=campaign):
        board.allocation = allocation.allocation_summary(campaign=campaign)
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
                title=f"Participants against target shares · {audience.name}",
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


def with_live_quotas(boards: list[CampaignBoard]) -> list[CampaignBoard]:
    """Each board's quotas, read now and never cached: places change hands with every
    submission, and the researcher decides whether to release them from these numbers."""
    now = timezone.now()
    campaigns = Campaign.objects.in_bulk([board.campaign_id for board in boards])
    for board in boards:
        board.quotas = quotas.campaign_quota_boards(campaigns[board.campaign_id], now)
    return boards


def dashboard_boards(*, staff: bool = True) -> list[CampaignBoard]:
    """Boards of every open campaign, newest first."""
    campaigns = Campaign.objects.filter(status=Campaign.Status.OPEN).order_by("-created_at", "slug")
    return [campaign_board(campaign=campaign, staff=staff) for campaign in campaigns]


def dashboard_alerts(*, boards: list[CampaignBoard]) -> list[CoverageAlert]:
    """The dashboard's list of open alerts: each board's own (so the list agrees with
    the boards' highlights), and the stored ones of campaigns without a board."""
    shown = {board.campaign_id for board in boards}
    found = [alert for alert in selectors.open_alerts() if alert.campaign_id not in shown]
    found += [alert for board in boards for alert in board.alerts]
    return sorted(
        found,
        key=lambda alert: (alert.campaign.slug, alert.audience.slug, alert.kind, alert.subject),
    )
