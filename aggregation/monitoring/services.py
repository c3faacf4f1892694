"""Writes of monitoring: the periodic check stores each campaign's metrics and records
its coverage alerts. Run by the beat task `aggregation.tasks.coverage_alerts_record`
and `manage.py record_alerts`; never by a page (pages read `selectors`).

`alerts_record` turns the findings of the rules (`aggregation.alerts`) into
`CoverageAlert` rows: it adds an alert for a new finding, refreshes the open alert of a
finding that still holds, and resolves open alerts whose finding is gone. Running it
twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from aggregation import alerts
from aggregation.models import CoverageAlert, MetricsSnapshot
from aggregation.monitoring import selectors
from collection.models import Campaign

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x414C5254  # "ALRT": one check per campaign at a time


def metrics_snapshot_refresh(*, campaign: Campaign) -> MetricsSnapshot:
    """Compute the campaign's metrics now and store them for the dashboard."""
    computed = selectors.metrics_snapshot_compute(campaign=campaign)
    snapshot, _ = MetricsSnapshot.objects.update_or_create(
        campaign=campaign,
        defaults={
            field: getattr(computed, field)
            for field in ("metrics", "top_participants", "daily", "computed_at", "seconds")
        },
    )
    selectors.board_cache_clear(campaign_id=campaign.pk)
    return snapshot


@dataclasses.dataclass
class Recorded:
    created: int = 0
    kept: int = 0
    resolved: int = 0

    def __add__(self, other: Recorded) -> Recorded:
        return Recorded(
            self.created + other.created, self.kept + other.kept, self.resolved + other.resolved
        )


def alerts_record(
    *, campaign: Campaign, found: list[alerts.Finding], now: datetime | None = None
) -> Recorded:
    """Make the campaign's open alerts match ``found``: add, refresh, resolve."""
    now = now or timezone.now()
    audiences = {target.audience.slug: target.audience for target in campaign.targets.all()}
    result = Recorded()
    with transaction.atomic():
        # One check per campaign at a time, so two never add the same alert; an
        # advisory lock rather than the campaign's row, which annotators' requests read.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, campaign.pk])
        plan = alerts.alerts_plan(
            open_alerts=list(
                CoverageAlert.objects.filter(campaign=campaign, resolved_at__isnull=True)
            ),
            found=found,
            audiences=audiences,
        )
        for audience, finding in plan.new:
            alerts.alert_new(campaign=campaign, audience=audience, finding=finding, now=now).save(
                force_insert=True
            )
            result.created += 1
        for alert, finding in plan.kept:
            alerts.alert_refresh(alert, finding, now)
            alert.save(update_fields=["message", "detail", "last_seen_at"])
            result.kept += 1
        if plan.gone:
            result.resolved = CoverageAlert.objects.filter(
                pk__in=[alert.pk for alert in plan.gone]
            ).update(resolved_at=now)
    return result


def alerts_check_campaign(*, campaign: Campaign, now: datetime | None = None) -> Recorded:
    """Recompute a campaign's metrics (storing them for the dashboard) and record alerts."""
    snapshot = metrics_snapshot_refresh(campaign=campaign)
    found = selectors.campaign_findings(campaign=campaign, snapshot=snapshot)
    return alerts_record(campaign=campaign, found=found, now=now)


CHECKED_STATUSES = (Campaign.Status.OPEN, Campaign.Status.PAUSED)


def alerts_check_all(
    *, slugs: list[str] | None = None, now: datetime | None = None
) -> dict[str, Recorded]:
    """Check every open or paused campaign (or the named ones); resolve the alerts of
    campaigns that are closed or back in draft, since nobody can act on them.

    A run over every campaign that finds another such run going returns at once
    (a slow run overlapping the next beat would only repeat its work).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [LOCK_NAMESPACE])
        if not cursor.fetchone()[0]:
            logger.info("coverage alerts: another check is running")
            return {}
    try:
        return _check_all(slugs=slugs, now=now or timezone.now())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [LOCK_NAMESPACE])


def _check_all(*, slugs: list[str] | None, now: datetime) -> dict[str, Recorded]:
    campaigns = Campaign.objects.filter(status__in=CHECKED_STATUSES)
    if slugs:
        campaigns = Campaign.objects.filter(slug__in=slugs)
    results = {}
    for campaign in campaigns.prefetch_related("targets__audience").order_by("slug"):
        if campaign.status in CHECKED_STATUSES:
            results[campaign.slug] = alerts_check_campaign(campaign=campaign, now=now)
        else:
            results[campaign.slug] = alerts_record(campaign=campaign, found=[], now=now)
        # Debug only: the command prints these results and the beat task returns them
        # (Celery logs it), so at INFO every line showed twice.
        logger.debug("coverage alerts of %s: %s", campaign.slug, results[campaign.slug])
    if not slugs:
        stale = CoverageAlert.objects.filter(resolved_at__isnull=True).exclude(
            campaign__status__in=CHECKED_STATUSES
        )
        for campaign in Campaign.objects.filter(alerts__in=stale).distinct().order_by("slug"):
            results[campaign.slug] = alerts_record(campaign=campaign, found=[], now=now)
    return results
