"""Withdrawal from a campaign or the platform: responses marked, slots given back."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from collection import selectors
from collection.models import (
    Assignment,
    Campaign,
    Conversation,
    Participant,
    Response,
    Slot,
    Withdrawal,
)
from collection.services.locks import _lock_participant


def participant_withdraw(
    *, participant: Participant, campaign: Campaign | None = None, now: datetime | None = None
) -> tuple[Withdrawal, bool]:
    """Withdraw from one campaign, or (campaign None) from the whole platform; return the
    withdrawal and whether it is new.

    Responses are marked withdrawn (later releases leave them out); their slots
    and any live lease are given back so the campaign can still reach its k. Asking
    again changes nothing and returns the withdrawal that already covers the scope
    (leaving the platform covers every campaign).
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_participant(participant)
        earlier = selectors.withdrawal_covering(participant=participant, campaign=campaign)
        if earlier is not None:
            return earlier, False
        responses = Response.objects.filter(participant=participant, withdrawn_at__isnull=True)
        assignments = Assignment.objects.filter(
            participant=participant,
            status__in=[Assignment.Status.LEASED, Assignment.Status.COMPLETED],
        )
        if campaign is not None:
            responses = responses.filter(campaign=campaign)
            assignments = assignments.filter(campaign=campaign)
        released = list(assignments.values_list("pk", flat=True))
        count = responses.update(withdrawn_at=now)
        # Conversations' turns leave later releases with the responses (issue #12).
        conversations = Conversation.objects.filter(
            participant=participant, withdrawn_at__isnull=True
        )
        if campaign is not None:
            conversations = conversations.filter(campaign=campaign)
        conversations.update(withdrawn_at=now, pending=None)
        Assignment.objects.filter(pk__in=released).update(
            status=Assignment.Status.RELEASED, finished_at=now
        )
        # By holder, not by the assignments' slot ids: a slot whose lease expired may
        # have gone to someone else since, and their lease must stand.
        Slot.objects.filter(holder_id__in=released).update(
            filled=False, holder=None, lease_expires_at=None
        )
        withdrawal = Withdrawal.objects.create(
            participant=participant, campaign=campaign, responses_withdrawn=count, created_at=now
        )
    return withdrawal, True
