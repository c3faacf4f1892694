"""Reads of monitoring: what the periodic check computes and what the pages show.

Nothing here writes to the database. `metrics_snapshot_compute` is the check's
computation (`services.metrics_snapshot_refresh` stores its result); a page calls it
for a small campaign whose stored snapshot is stale (see `aggregation.dashboard`) and
shows the result without storing it. `alerts_as_found` is the list of open alerts the
check would leave for some findings, so such a page's alert list agrees with its
highlights before the next check records them.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from aggregation import alerts, selectors
from aggregation.models import DEFAULT_OPTIONS, CoverageAlert, MetricsSnapshot
from aggregation.release import pipeline
from collection.models import Campaign
from collection.selectors import SlotCounts, slot_counts_by_audience

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


def metrics_snapshot_compute(*, campaign: Campaign) -> MetricsSnapshot:
    """The campaign's metrics computed now, as an unsaved snapshot (reads only)."""
    started = time.perf_counter()
    metrics = pipeline.campaign_metrics(campaign=campaign, options=METRIC_OPTIONS)
    top = top_participants(campaign=campaign)
    until = timezone.now()
    days = last_days(timezone.localdate(until))
    counts = daily_submissions(campaign=campaign, since=_day_start(days[0]), until=until)
    return MetricsSnapshot(
        campaign=campaign,
        metrics=metrics,
        top_participants=top,
        daily={
            "until": until.isoformat(),
            "counts": {
                str(audience_id): {day.isoformat(): n for day, n in by_day.items()}
                for audience_id, by_day in counts.items()
            },
        },
        computed_at=timezone.now(),
        seconds=round(time.perf_counter() - started, 3),
    )


def metrics_snapshot_stored(*, campaign: Campaign) -> MetricsSnapshot | None:
    return MetricsSnapshot.objects.filter(campaign=campaign).first()


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
                "withheld": selectors.withheld_item_ids(campaign=campaign),
                "excluded": [int(value) for value in excluded],
                "limit": limit,
            },
        )
        for audience_id, participant_id, responses in cursor.fetchall():
            result[slugs[audience_id]].append(
                {"participant_id": participant_id, "responses": responses}
            )
    return result


# Live counts -----------------------------------------------------------------------


def slot_counts(*, campaign: Campaign, now: datetime) -> dict[int, SlotCounts]:
    """Per audience: slots, filled slots and slots under a live lease, counted by the
    engine's one definition (`collection.selectors.slot_counts_by_audience`)."""
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


# Alerts ----------------------------------------------------------------------------


def campaign_findings(*, campaign: Campaign, snapshot: MetricsSnapshot) -> list[alerts.Finding]:
    """The findings of the rules in a snapshot of the campaign's metrics."""
    audiences = {target.audience.slug: target.audience for target in campaign.targets.all()}
    return alerts.findings(snapshot.metrics, snapshot.top_participants, audiences)


def campaign_open_alerts(*, campaign: Campaign) -> list[CoverageAlert]:
    return list(
        CoverageAlert.objects.filter(campaign=campaign, resolved_at__isnull=True)
        .select_related("audience")
        .order_by("audience__slug", "kind", "subject")
    )


def alerts_as_found(
    *, campaign: Campaign, found: list[alerts.Finding], now: datetime
) -> list[CoverageAlert]:
    """The open alerts `services.alerts_record` would leave for ``found``, without
    recording them: stored alerts that still hold (refreshed in memory), and unsaved
    ones for new findings; in the order of `campaign_open_alerts`."""
    audiences = {target.audience.slug: target.audience for target in campaign.targets.all()}
    plan = alerts.alerts_plan(
        open_alerts=campaign_open_alerts(campaign=campaign), found=found, audiences=audiences
    )
    shown = []
    for alert, finding in plan.kept:
        alerts.alert_refresh(alert, finding, now)
        shown.append(alert)
    for audience, finding in plan.new:
        shown.append(
            alerts.alert_new(campaign=campaign, audience=audience, finding=finding, now=now)
        )
    return sorted(shown, key=lambda alert: (alert.audience.slug, alert.kind, alert.subject))


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
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT campaign_id, count(*), count(*) FILTER (WHERE filled)
                FROM collection_slot WHERE campaign_id = ANY(%(campaigns)s)
                GROUP BY campaign_id
                """,
                {"campaigns": [campaign.pk for campaign in campaigns]},
            )
            fills = {row[0]: SlotCounts(slots=row[1], filled=row[2]) for row in cursor.fetchall()}
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


# The boards' cache -------------------------------------------------------------------


BOARD_CACHE_SECONDS = 30


def board_cache_key(campaign_id: int, staff: bool) -> str:
    return f"dashboard:board:{campaign_id}:{'staff' if staff else 'owner'}"


def board_cache_clear(*, campaign_id: int) -> None:
    cache.delete_many([board_cache_key(campaign_id, True), board_cache_key(campaign_id, False)])
