"""Campaigns: create with their targets, update, status transitions, targets (k)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from collection import kinds, payloads
from collection.models import Audience, Campaign, CampaignAudience
from collection.services.adaptive import AdaptiveSetting, campaign_set_adaptive
from collection.services.errors import Conflict, ServiceError, payload_error
from collection.slots import campaign_sync_slots

CAMPAIGN_TRANSITIONS = {
    Campaign.Status.DRAFT: {Campaign.Status.OPEN, Campaign.Status.CLOSED},
    Campaign.Status.OPEN: {Campaign.Status.PAUSED, Campaign.Status.CLOSED},
    Campaign.Status.PAUSED: {Campaign.Status.OPEN, Campaign.Status.CLOSED},
    Campaign.Status.CLOSED: set(),
}

COMPETENCE_FOR_KIND = kinds.CompetenceByKind()


# A target's quota release is the researcher's decision: saving a target's k without
# naming a release keeps the one it has.
# What a researcher sets on a campaign besides its slug, name, item kind and targets:
# the API reads and writes these, and a duplicate copies them.
CAMPAIGN_SETTINGS = (
    "description",
    "instructions",
    "competence",
    "transience",
    "preference_format",
    "rating_min",
    "rating_max",
    "rating_rubric",
    "ask_rationale",
    "ask_confidence",
    "per_participant_cap",
    "attention_check_share",
    "lease_seconds",
    "consent_text",
    "consent_version",
)

KEEP = object()


@dataclasses.dataclass(frozen=True)
class CampaignTarget:
    audience: Audience
    overlap_k: int
    quota_release_at: datetime | object | None = KEEP


def _campaign_targets(
    targets: Iterable[CampaignTarget] | dict[Audience, int] | None,
) -> list[CampaignTarget]:
    if isinstance(targets, dict):
        return [CampaignTarget(audience=a, overlap_k=k) for a, k in targets.items()]
    return list(targets or ())


def campaign_create(
    *,
    slug: str,
    name: str,
    item_kind: str,
    owners: Iterable = (),
    competence: str | None = None,
    targets: Iterable[CampaignTarget] | dict[Audience, int] | None = None,
    adaptive: AdaptiveSetting | None = None,
    **fields,
) -> Campaign:
    """A draft campaign with its target audiences, all in one transaction: a target
    refused leaves no campaign behind. ``targets`` is a list of `CampaignTarget`, or
    a mapping of each target audience to its overlap k."""
    if item_kind not in COMPETENCE_FOR_KIND:
        raise ServiceError(f"Unknown item kind {item_kind!r}.", field="item_kind")
    if Campaign.objects.filter(slug=slug).exists():
        raise Conflict(f"A campaign with slug {slug!r} exists already.", field="slug")
    campaign = Campaign(
        slug=slug,
        name=name,
        item_kind=item_kind,
        competence=competence or COMPETENCE_FOR_KIND[item_kind],
        **fields,
    )
    _check_rubric(campaign)
    try:
        campaign.full_clean(exclude=["owners"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ServiceError(" ".join(messages), field=field) from error
    with transaction.atomic():
        campaign.save()
        campaign.owners.set(owners)
        _campaign_set_targets(campaign, _campaign_targets(targets))
        if adaptive is not None:
            campaign_set_adaptive(campaign=campaign, setting=adaptive)
    return campaign


def campaign_update(
    *,
    campaign: Campaign,
    fields: dict,
    targets: Iterable[CampaignTarget] = (),
    adaptive: AdaptiveSetting | object | None = KEEP,
) -> Campaign:
    """Change a campaign's settings (not its kind or slug), checked as on creation, the
    k of the ``targets`` given and its adaptive overlap (None: off; `KEEP`: unchanged),
    in one transaction."""
    rubric_before, scale_before = list(campaign.rating_rubric or []), campaign.rating_scale
    for name, value in fields.items():
        setattr(campaign, name, value)
    _check_rubric(campaign)
    rubric_changed = payloads.validate_rubric(campaign.rating_rubric) != payloads.validate_rubric(
        rubric_before
    )
    scale_changed = (
        kinds.get(campaign.item_kind).scores_rubric and campaign.rating_scale != scale_before
    )
    if (rubric_changed or scale_changed) and campaign.responses.exists():
        # Scores already given name the old attributes, on the old scale; a release
        # could not read both.
        what, field = ("rubric", "rating_rubric") if rubric_changed else ("scale", "rating_min")
        raise Conflict(
            f"The rating {what} cannot change once participants have rated; duplicate the "
            "campaign.",
            field=field,
        )
    try:
        campaign.full_clean(exclude=["owners", "slug"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ServiceError(" ".join(messages), field=field) from error
    with transaction.atomic():
        campaign.save()
        _campaign_set_targets(campaign, list(targets))
        if adaptive is not KEEP:
            campaign_set_adaptive(campaign=campaign, setting=adaptive)
    return campaign


def _check_rubric(campaign: Campaign) -> None:
    """Name the rubric's bad attribute by its path (``rating_rubric.2.name``), which the
    model's `clean` (shown in the admin's form) can only report as the whole field."""
    try:
        payloads.validate_rubric(campaign.rating_rubric)
    except payloads.PayloadError as error:
        raise payload_error(error) from error


def _campaign_set_targets(campaign: Campaign, targets: list[CampaignTarget]) -> None:
    for n, target in enumerate(targets):
        _target_save(campaign, target, field=f"targets.{n}.overlap_k")
    if targets:
        campaign_sync_slots(campaign=campaign)


def _target_save(campaign: Campaign, target: CampaignTarget, *, field: str) -> CampaignAudience:
    if target.overlap_k < 1:
        raise ServiceError("The overlap k must be at least 1.", field=field)
    defaults: dict = {"overlap_k": target.overlap_k}
    if target.quota_release_at is not KEEP:
        defaults["quota_release_at"] = target.quota_release_at
    saved, _ = CampaignAudience.objects.update_or_create(
        campaign=campaign, audience=target.audience, defaults=defaults
    )
    return saved


def campaign_set_target(
    *,
    campaign: Campaign,
    audience: Audience,
    overlap_k: int,
    quota_release_at: datetime | object | None = KEEP,
) -> CampaignAudience:
    target = CampaignTarget(
        audience=audience, overlap_k=overlap_k, quota_release_at=quota_release_at
    )
    with transaction.atomic():
        saved = _target_save(campaign, target, field="overlap_k")
        campaign_sync_slots(campaign=campaign)
    return saved


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    if status not in CAMPAIGN_TRANSITIONS[campaign.status]:
        raise Conflict(f"A {campaign.status} campaign cannot become {status}.", field="status")
    if status == Campaign.Status.OPEN:
        if not campaign.targets.exists():
            raise ServiceError("Add at least one target audience first.", field="targets")
        if not campaign.items.exists():
            raise ServiceError("Add items before opening the campaign.", field="items")
        campaign.opened_at = campaign.opened_at or timezone.now()
    if status == Campaign.Status.CLOSED:
        campaign.closed_at = timezone.now()
    campaign.status = status
    campaign.save(update_fields=["status", "opened_at", "closed_at"])
    return campaign


def campaign_release_quotas(
    *, campaign: Campaign, audience: Audience, at: datetime | None = None
) -> CampaignAudience:
    """Stop holding the audience's quotas in this campaign, now or from ``at``: the way
    out when a group never arrives and its share of the slots would stay empty."""
    with transaction.atomic():
        target = (
            CampaignAudience.objects.select_for_update()
            .filter(campaign=campaign, audience=audience)
            .first()
        )
        if target is None:
            raise ServiceError("The campaign does not target this audience.", field="audience")
        target.quota_release_at = at or timezone.now()
        target.save(update_fields=["quota_release_at"])
    return target
