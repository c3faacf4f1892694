"""Writes behind the researcher workbench pages (`workbench/`); the API may call them too.

Audience edits, invitation revocation, campaign duplication and target removal, item
exclusion and new versions, flag dismissal, demonstration review.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from collection import kinds, payloads
from collection.models import (
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Invitation,
    Item,
    Response,
    Slot,
)
from collection.services.adaptive import campaign_adaptive_setting
from collection.services.campaigns import CAMPAIGN_SETTINGS, campaign_create
from collection.services.errors import Conflict, ServiceError, payload_error
from collection.slots import campaign_sync_slots


def audience_update(
    *,
    audience: Audience,
    name: str,
    kind: str,
    description: str = "",
    attribute_schema: list | None = None,
    target_marginals: dict | None = None,
    screened: bool = False,
    max_members: int | None = None,
) -> Audience:
    """Change an audience, checked as on creation. Kind and attribute schema are fixed
    once someone has joined: members' attributes and invitations were given for them."""
    if kind not in Audience.Kind.values:
        raise ServiceError(f"Unknown audience kind {kind!r}.", field="kind")
    try:
        schema = payloads.validate_attribute_schema(attribute_schema or [])
        targets = payloads.validate_target_marginals(target_marginals or {}, schema, kind=kind)
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    with transaction.atomic():
        audience = Audience.objects.select_for_update().get(pk=audience.pk)
        members = audience.memberships.count()
        if members and kind != audience.kind:
            raise Conflict("People have joined, so the kind cannot change.", field="kind")
        if members and schema != audience.attribute_schema:
            raise Conflict(
                "People have joined, so the attribute schema cannot change.",
                field="attribute_schema",
            )
        if kind == Audience.Kind.DYADIC:
            max_members = 1
        if kind == Audience.Kind.GROUP and not max_members:
            raise ServiceError("A group audience needs a member limit.", field="max_members")
        if max_members and members > max_members:
            raise Conflict(
                f"{members} people have joined already; the limit cannot be lower.",
                field="max_members",
            )
        audience.name = name
        audience.kind = kind
        audience.description = description
        audience.attribute_schema = schema
        audience.target_marginals = targets
        audience.screened = screened
        audience.max_members = max_members
        audience.save()
    return audience


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """The link stops working; people who joined through it stay members."""
    invitation.revoked = True
    invitation.save(update_fields=["revoked"])
    return invitation


CAMPAIGN_COPIED_FIELDS = ("item_kind", *CAMPAIGN_SETTINGS)


def campaign_duplicate(*, campaign: Campaign, slug: str, name: str, owner) -> Campaign:
    """A draft with the same settings and target audiences, and no items or responses."""
    fields = {field: getattr(campaign, field) for field in CAMPAIGN_COPIED_FIELDS}
    targets = {target.audience: target.overlap_k for target in campaign.targets.all()}
    item_kind = fields.pop("item_kind")
    return campaign_create(
        slug=slug,
        name=name,
        item_kind=item_kind,
        owners=[owner],
        targets=targets,
        adaptive=campaign_adaptive_setting(campaign=campaign),
        **fields,
    )


def campaign_target_remove(*, campaign: Campaign, audience: Audience) -> None:
    if campaign.status != Campaign.Status.DRAFT:
        raise Conflict("Target audiences can be removed only from a draft.", field="targets")
    with transaction.atomic():
        CampaignAudience.objects.filter(campaign=campaign, audience=audience).delete()
        Slot.objects.filter(campaign=campaign, audience=audience).delete()


def _retire_free_slots(item: Item) -> None:
    # Slots holding a response or a live lease stay: the lease may still be answered,
    # and the response counts for the version it judged.
    Slot.objects.filter(item=item, filled=False, holder__isnull=True).delete()
    Slot.objects.filter(item=item, filled=False, lease_expires_at__lt=timezone.now()).delete()


def _resolve_flags(item: Item, resolution: str, now: datetime) -> int:
    return Assignment.objects.filter(
        item=item, status=Assignment.Status.FLAGGED, flag_resolved_at__isnull=True
    ).update(flag_resolution=resolution, flag_resolved_at=now)


def item_exclude(*, item: Item) -> Item:
    """Leave an item out of later releases and stop serving it; resolves its flags."""
    now = timezone.now()
    with transaction.atomic():
        item = Item.objects.select_for_update().get(pk=item.pk)
        if item.excluded_at is None:
            item.excluded_at = now
            item.save(update_fields=["excluded_at"])
        _retire_free_slots(item)
        _resolve_flags(item, Assignment.FlagResolution.EXCLUDED, now)
    return item


def item_new_version(*, item: Item, prompt: str, payload: dict | None = None) -> Item:
    """A corrected copy of the item, served in its place from now on.

    The old version keeps its judgements (they judged its text) and its flags are
    resolved as edited; the new one starts with empty slots.
    """
    campaign = item.campaign
    try:
        clean = payloads.validate_item(
            kind=campaign.item_kind,
            prompt=prompt,
            context=item.context,
            payload=item.payload if payload is None else payload,
            expected=item.expected if item.is_attention_check else None,
            episodic=campaign.is_episodic,
            preference_format=campaign.preference_format,
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    now = timezone.now()
    with transaction.atomic():
        item = Item.objects.select_for_update().get(pk=item.pk)
        if item.superseded_at is not None:
            raise Conflict("A newer version of this item exists; edit that one.", field="item")
        item.superseded_at = now
        item.save(update_fields=["superseded_at"])
        new = Item.objects.create(
            campaign=campaign,
            external_id=item.external_id,
            prompt=clean["prompt"],
            context=clean["context"],
            payload=clean["payload"],
            is_attention_check=item.is_attention_check,
            expected=item.expected,
            version=item.version + 1,
            previous_version=item,
            excluded_at=item.excluded_at,
        )
        _retire_free_slots(item)
        _resolve_flags(item, Assignment.FlagResolution.EDITED, now)
        campaign_sync_slots(campaign=campaign, new_items_after=new.pk - 1)
    return new


def flag_dismiss(*, item: Item) -> int:
    """The item stays as it is; its open flags are closed. Returns how many."""
    return _resolve_flags(item, Assignment.FlagResolution.DISMISSED, timezone.now())


def response_review(*, response: Response, review: str) -> Response:
    """Accept or reject a demonstration; a rejected one leaves later releases."""
    if not kinds.get(response.campaign.item_kind).reviewed:
        raise ServiceError("Only demonstrations are reviewed.", field="response")
    if review not in Response.Review.values:
        raise ServiceError("Choose accepted or rejected.", field="review")
    response.review = review
    response.reviewed_at = timezone.now()
    response.save(update_fields=["review", "reviewed_at"])
    return response
