"""Changing one's last answer while the item is still one's own.

"Still theirs" means: the participant's latest response in the campaign, not
withdrawn, in a campaign that is not closed, and within the lease the engine gave
them for that item (the "kept for you until" time on the page; `Assignment.expires_at`).
Until then the slot is held for them anyway, so changing the answer moves no
capacity: the same Response row (same slot, assignment, idempotency key and
submission time) gets the new payload, validated as at submission. A release whose
snapshot came before the change keeps the old answer; later ones have the new one.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from collection import payloads
from collection.models import Campaign, Participant, Response
from collection.services.errors import Conflict, NotFound, payload_error
from collection.services.locks import _lock_participant


def response_last_editable(
    *, participant: Participant, campaign: Campaign, now: datetime | None = None
) -> Response | None:
    """The participant's last answer in the campaign if it may still be changed."""
    now = now or timezone.now()
    last = (
        Response.objects.filter(participant=participant, campaign=campaign)
        .select_related("assignment", "item", "campaign")
        .order_by("-created_at", "-id")
        .first()
    )
    if last is None or _refusal(last, now=now):
        return None
    return last


def _refusal(response: Response, *, now: datetime) -> str | None:
    if response.withdrawn_at is not None:
        return "This answer was withdrawn."
    if response.campaign.status == Campaign.Status.CLOSED:
        return "This campaign is closed."
    if response.assignment.expires_at <= now:
        return "The time this item was kept for you has run out, so the answer stays as it is."
    return None


def response_edit(
    *,
    participant: Participant,
    response_id: int,
    payload: dict,
    now: datetime | None = None,
) -> Response:
    """Replace the payload of the participant's last answer while it is still theirs."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_participant(participant)
        response = (
            Response.objects.select_for_update(of=("self",))
            .select_related("assignment", "item", "campaign")
            .filter(pk=response_id, participant=participant)
            .first()
        )
        if response is None:
            raise NotFound("No such answer of yours.", field="response")
        latest = (
            Response.objects.filter(participant=participant, campaign=response.campaign)
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)
            .first()
        )
        if latest != response.pk:
            raise Conflict("Only your last answer in a campaign can be changed.", field="response")
        refusal = _refusal(response, now=now)
        if refusal:
            raise Conflict(refusal, field="response")
        campaign, item = response.campaign, response.item
        try:
            clean = payloads.validate_response(
                kind=campaign.item_kind,
                payload=payload,
                item_payload=item.payload,
                preference_format=campaign.preference_format,
                rating_scale=campaign.rating_scale,
                rubric=campaign.rubric_names,
                ask_rationale=campaign.ask_rationale,
                ask_confidence=campaign.ask_confidence,
            )
        except payloads.PayloadError as error:
            raise payload_error(error) from error
        response.payload = clean
        if item.is_attention_check:
            response.attention_passed = payloads.attention_check_passed(item.expected, clean)
        response.save(update_fields=["payload", "attention_passed"])
    return response
