"""Coverage alerts: under-covered strata and annotators who dominate an audience.

The rules (one place, used by the dashboard's highlights and by the alerts):

Under-coverage
    In a public audience with target shares, an attribute value is under-covered
    when its observed share of the audience's participants is more than 5
    percentage points below its target share, or below 80 % of it. The points
    rule catches large strata (target 33 %, observed 27 %); the ratio catches
    small ones a points rule never would (target 4 %, observed 1 %). Judged
    only once the audience has 10 participants in the campaign: with fewer,
    one sign-up moves a share by ten points.

Dominance
    A participant dominates an audience of a campaign when their share of that
    audience's responses exceeds 10 %, or twice an equal share (2 / participants)
    when that is larger. The second limit keeps small groups quiet: in a team
    of seven an equal share is already 14 %, and a dyad has one member by
    definition. Judged once the audience has 30 responses.

Shares, counts and participants are those of `services.campaign_metrics` (live,
consented responses to ordinary items, as a release counts them). Every
threshold can be changed with ``settings.COVERAGE_THRESHOLDS`` (a dict with
the field names of `Thresholds`).

`alerts_record` turns the findings into `CoverageAlert` rows: it adds an alert
for a new finding, refreshes the open alert of a finding that still holds, and
resolves open alerts whose finding is gone. Running it twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aggregation.models import CoverageAlert
from collection.models import Audience, Campaign

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x414C5254  # "ALRT": one check per campaign at a time


@dataclasses.dataclass(frozen=True)
class Thresholds:
    under_points: float = 0.05
    under_ratio: float = 0.8
    dominance_share: float = 0.10
    min_participants: int = 10
    min_responses: int = 30


def thresholds() -> Thresholds:
    return Thresholds(**getattr(settings, "COVERAGE_THRESHOLDS", {}))


def is_under_covered(
    observed: float | None, target: float | None, *, limits: Thresholds | None = None
) -> bool:
    """The under-coverage rule for one stratum (shares in 0..1)."""
    limits = limits or thresholds()
    if observed is None or not target:
        return False
    return observed < target - limits.under_points or observed < limits.under_ratio * target


def dominance_limit(participants: int, *, limits: Thresholds | None = None) -> float:
    """The share of an audience's responses above which one participant dominates."""
    limits = limits or thresholds()
    if participants <= 0:
        return 1.0
    return min(1.0, max(limits.dominance_share, 2 / participants))


@dataclasses.dataclass(frozen=True)
class Finding:
    audience: str  # slug
    kind: str
    subject: str
    message: str
    detail: dict


def _percent(share: float) -> str:
    # One decimal: "10.4% against a limit of 10.0%", never "10% against 10%".
    return f"{share * 100:.1f}%"


def under_coverage_findings(
    slug: str, name: str, coverage: dict, schema: list[dict], limits: Thresholds
) -> list[Finding]:
    """Under-covered strata of one audience, from its `campaign_metrics` coverage."""
    if (coverage.get("participants") or 0) < limits.min_participants:
        return []
    labels = {
        attribute["name"]: attribute.get("label") or attribute["name"] for attribute in schema
    }
    found = []
    for attribute, entry in sorted(coverage.get("attributes", {}).items()):
        for row in entry["values"]:
            observed, target = row["observed_share"], row["target_share"]
            if not is_under_covered(observed, target, limits=limits):
                continue
            value = str(row["value"])
            found.append(
                Finding(
                    audience=slug,
                    kind=CoverageAlert.Kind.UNDER_COVERAGE,
                    subject=f"{attribute}={value}"[:200],
                    message=(
                        f"{name}: {labels.get(attribute, attribute)} “{value}” is "
                        f"{_percent(observed)} of participants against a target of "
                        f"{_percent(target)}."
                    )[:500],
                    detail={
                        "attribute": attribute,
                        "value": value,
                        "observed_share": observed,
                        "target_share": target,
                        "participants": row["count"],
                        "audience_participants": coverage["participants"],
                    },
                )
            )
    return found


def dominance_findings(
    slug: str, name: str, coverage: dict, top: list[dict], limits: Thresholds
) -> list[Finding]:
    """Participants who dominate one audience; ``top`` lists the busiest, most first."""
    total = coverage.get("responses") or 0
    participants = coverage.get("participants") or 0
    if total < limits.min_responses:
        return []
    limit = dominance_limit(participants, limits=limits)
    found = []
    for person in top:
        share = person["responses"] / total
        if share <= limit:
            break
        found.append(
            Finding(
                audience=slug,
                kind=CoverageAlert.Kind.DOMINANCE,
                subject=f"participant:{person['participant_id']}",
                message=(
                    f"{name}: participant #{person['participant_id']} gave {_percent(share)} "
                    f"of the audience's responses ({person['responses']:,} of {total:,}; "
                    f"limit {_percent(limit)})."
                ),
                detail={
                    "participant_id": person["participant_id"],
                    "responses": person["responses"],
                    "audience_responses": total,
                    "share": round(share, 6),
                    "limit": round(limit, 6),
                    "participants": participants,
                },
            )
        )
    return found


def findings(
    metrics: dict,
    top_participants: dict,
    audiences: dict[str, Audience],
    *,
    limits: Thresholds | None = None,
) -> list[Finding]:
    """Every finding in a campaign's metrics (a pure function of its arguments)."""
    limits = limits or thresholds()
    found = []
    for slug, report in metrics.get("audiences", {}).items():
        audience = audiences.get(slug)
        if audience is None:
            continue
        coverage = report["coverage"]
        if audience.kind == Audience.Kind.PUBLIC and audience.target_marginals:
            found += under_coverage_findings(
                slug, audience.name, coverage, audience.attribute_schema, limits
            )
        found += dominance_findings(
            slug, audience.name, coverage, top_participants.get(slug, []), limits
        )
    return found


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
    *, campaign: Campaign, found: list[Finding], now: datetime | None = None
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
        open_alerts = {
            (alert.audience_id, alert.kind, alert.subject): alert
            for alert in CoverageAlert.objects.filter(campaign=campaign, resolved_at__isnull=True)
        }
        for finding in found:
            audience = audiences.get(finding.audience)
            if audience is None:
                continue
            key = (audience.pk, finding.kind, finding.subject)
            alert = open_alerts.pop(key, None)
            if alert is None:
                CoverageAlert.objects.create(
                    campaign=campaign,
                    audience=audience,
                    kind=finding.kind,
                    subject=finding.subject,
                    message=finding.message,
                    detail=finding.detail,
                    created_at=now,
                    last_seen_at=now,
                )
                result.created += 1
            else:
                alert.message, alert.detail, alert.last_seen_at = (
                    finding.message,
                    finding.detail,
                    now,
                )
                alert.save(update_fields=["message", "detail", "last_seen_at"])
                result.kept += 1
        if open_alerts:
            result.resolved = CoverageAlert.objects.filter(
                pk__in=[alert.pk for alert in open_alerts.values()]
            ).update(resolved_at=now)
    return result


def alerts_check_campaign(*, campaign: Campaign, now: datetime | None = None) -> Recorded:
    """Recompute a campaign's metrics (storing them for the dashboard) and record alerts."""
    from aggregation import dashboard

    snapshot = dashboard.metrics_snapshot_refresh(campaign=campaign)
    audiences = {target.audience.slug: target.audience for target in campaign.targets.all()}
    found = findings(snapshot.metrics, snapshot.top_participants, audiences)
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
        logger.info("coverage alerts of %s: %s", campaign.slug, results[campaign.slug])
    if not slugs:
        stale = CoverageAlert.objects.filter(resolved_at__isnull=True).exclude(
            campaign__status__in=CHECKED_STATUSES
        )
        for campaign in Campaign.objects.filter(alerts__in=stale).distinct().order_by("slug"):
            results[campaign.slug] = alerts_record(campaign=campaign, found=[], now=now)
    return results
