"""Campaigns: create with their targets, update, status transitions, targets (k)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from collection import kinds, payloads
from collection.models import Audience, Campaign, CampaignAudience
from collection.services.errors import Conflict, ServiceError, payload_error
from collection.slots import campaign_sync_slots

CAMPAIGN_TRANSITIONS = {
    Campaign.Status.DRAFT: {Campaign.Status.OPEN, Campaign.Status.CLOSED},
    Campaign.Status.OPEN: {Campaign.Status.PAUSED, Campaign.Status.CLOSED},
    Campaign.Status.PAUSED: {Campaign.Status.OPEN, Campaign.Status.CLOSED},
    Campaign.Status.CLOSED: set(),
}

COMPETENCE_FOR_KIND = kinds.CompetenceByKind()


@dataclasses.dataclass(frozen=True)
class CampaignTarget:
    audience: Audience
    overlap_k: int
    stratum_reserve_share: float = 0.2


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
    return campaign


def campaign_update(
    *, campaign: Campaign, fields: dict, targets: Iterable[CampaignTarget] = ()
) -> Campaign:
    """Change a campaign's settings (not its kind or slug), checked as on creation, and
    the k of the ``targets`` given, in one transaction."""
    rubric_before = list(campaign.rating_rubric or [])
    for name, value in fields.items():
        setattr(campaign, name, value)
    _check_rubric(campaign)
    if (
        payloads.validate_rubric(campaign.rating_rubric) != payloads.validate_rubric(rubric_before)
        and campaign.responses.exists()
    ):
        # Scores already given name the old attributes; a release could not read both.
        raise Conflict(
            "The rubric cannot change once participants have rated; duplicate the campaign.",
            field="rating_rubric",
        )
    try:
        campaign.full_clean(exclude=["owners", "slug"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ServiceError(" ".join(messages), field=field) from error
    with transaction.atomic():
        campaign.save()
        _campaign_set_targets(campaign, list(targets))
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
    saved, _ = CampaignAudience.objects.update_or_create(
        campaign=campaign,
        audience=target.audience,
        defaults={
            "overlap_k": target.overlap_k,
            "stratum_reserve_share": target.stratum_reserve_share,
        },
    )
    return saved


def campaign_set_target(
    *, campaign: Campaign, audience: Audience, overlap_k: int, stratum_reserve_share: float = 0.2
) -> CampaignAudience:
    target = CampaignTarget(
        audience=audience, overlap_k=overlap_k, stratum_reserve_share=stratum_reserve_share
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
