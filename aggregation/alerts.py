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

Shares, counts and participants are those of `release.pipeline.campaign_metrics` (live,
consented responses to ordinary items, as a release counts them). Every
threshold can be changed with ``settings.COVERAGE_THRESHOLDS`` (a dict with
the field names of `Thresholds`).

Everything here is a pure function of its arguments. `alerts_plan` matches findings
to open alerts; `aggregation.monitoring.services.alerts_record` records the plan
(the periodic check) and `aggregation.monitoring.selectors.alerts_as_found` shows it
without recording (a page).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.conf import settings

from aggregation.models import CoverageAlert
from collection.models import Audience, Campaign


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
class AlertsPlan:
    """What recording ``found`` does to a campaign's open alerts."""

    new: list[tuple[Audience, Finding]]
    kept: list[tuple[CoverageAlert, Finding]]
    gone: list[CoverageAlert]


def alerts_plan(
    *, open_alerts: list[CoverageAlert], found: list[Finding], audiences: dict[str, Audience]
) -> AlertsPlan:
    """Match findings to open alerts by (audience, kind, subject): a finding without an
    open alert is new, one with an open alert keeps it, and an open alert no finding
    matches is gone (findings of audiences not in ``audiences`` are dropped)."""
    by_key = {(alert.audience_id, alert.kind, alert.subject): alert for alert in open_alerts}
    plan = AlertsPlan(new=[], kept=[], gone=[])
    for finding in found:
        audience = audiences.get(finding.audience)
        if audience is None:
            continue
        alert = by_key.pop((audience.pk, finding.kind, finding.subject), None)
        if alert is None:
            plan.new.append((audience, finding))
        else:
            plan.kept.append((alert, finding))
    plan.gone = list(by_key.values())
    return plan


def alert_new(
    *, campaign: Campaign, audience: Audience, finding: Finding, now: datetime
) -> CoverageAlert:
    """The (unsaved) alert of a new finding."""
    return CoverageAlert(
        campaign=campaign,
        audience=audience,
        kind=finding.kind,
        subject=finding.subject,
        message=finding.message,
        detail=finding.detail,
        created_at=now,
        last_seen_at=now,
    )


def alert_refresh(alert: CoverageAlert, finding: Finding, now: datetime) -> None:
    """An open alert whose finding still holds says what the finding says now."""
    alert.message, alert.detail, alert.last_seen_at = finding.message, finding.detail, now
