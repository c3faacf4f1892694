"""Writes on conversations that touch the engine: start, keep, judge, close, skip, delete.

A conversation is one engine lease (`services.assignment_next`): starting one leases a
seed item; each judged turn extends the lease; closing submits the closing rating
through `services.response_submit`, which fills the slot, so k per (seed item,
audience) and the per-participant cap count conversations; skipping (before or after
judged turns) is `services.assignment_skip`; deleting gives the slot back as
withdrawal does. Every function here that writes more than one row takes the
participant's advisory lock first and then the rows, in the lock order of
`collection.services`; keeping the lease and holding the replies are one conditional
statement each, which need no lock of their own (their docstrings say why).

A conversation ends *abandoned* (no closing rating, so in no release; the card counts
it) when it is skipped (here, or through the API's skip of its lease) or when its lease
ran out and its slot was leased to someone else: the engine ends it then
(`services.assignment._abandon_conversation_of`), or, when their own turn held its row
at that moment, the turn that finds the slot gone (`_abandoned_if_lost`), or their next
start. A lease that ran out with its slot still free is renewed on the next turn.

Calling the models is the endpoints app's (`endpoints/conversations/`): it hands the
replies to `conversation_set_pending`, and the participant's judgement comes to
`turn_save`, which writes the whole turn in one transaction or nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from collection import services
from collection.kinds import conversation as conversation_kind
from collection.models import Assignment, Campaign, Participant, Response, Slot
from collection.models.conversations import (
    MAX_MESSAGE_CHARS,
    Conversation,
    ConversationSettings,
    Turn,
)
from collection.payloads import MAX_SHORT_CHARS, PayloadError, text_field

# The one lock order (see `collection.services`): the participant's lock comes first.
from collection.services.locks import _lock_participant


class ConversationClosed(services.Conflict):
    code = "conversation_closed"


def conversation_start(
    *, participant: Participant, campaign: Campaign, now: datetime | None = None
) -> Conversation | services.NoItem:
    """The participant's open conversation in ``campaign``, or a new one on the next seed
    the engine leases them; `services.NoItem` when there is none (cap, all seeds at k,
    campaign paused...). Refusals to annotate at all raise as `assignment_next` does."""
    # Conversations are the conversation kind's own feature, not a capability others share.
    if campaign.item_kind != Campaign.ItemKind.CONVERSATION:
        raise services.ServiceError("This is not a conversation campaign.", field="campaign")
    with transaction.atomic():
        leased = services.assignment_next(participant=participant, campaign=campaign, now=now)
        if isinstance(leased, services.NoItem):
            return leased
        conversation = Conversation.objects.filter(assignment=leased).first()
        if conversation is not None:
            return conversation
        # A conversation still open on another lease lost that lease (the engine leases
        # anew only when the old one is gone): it ends abandoned, if taking over its
        # slot could not say so (`services.assignment._abandon_conversation_of`).
        Conversation.objects.filter(
            participant=participant, campaign=campaign, status=Conversation.Status.OPEN
        ).update(
            status=Conversation.Status.ABANDONED,
            ended_by=Conversation.EndedBy.EXPIRED,
            closed_at=now or timezone.now(),
            pending=None,
        )
        setup = ConversationSettings.objects.filter(campaign=campaign).first()
        return Conversation.objects.create(
            campaign=campaign,
            audience_id=leased.audience_id,
            item_id=leased.item_id,
            participant=participant,
            assignment=leased,
            arena=bool(setup and setup.arena),
            created_at=now or timezone.now(),
        )


def conversation_draw_endpoints(*, conversation: Conversation, endpoint_ids: list[int]) -> bool:
    """Fix an arena battle's two endpoints, once; False when they were drawn already."""
    return bool(
        Conversation.objects.filter(pk=conversation.pk, endpoint_ids=[]).update(
            endpoint_ids=list(endpoint_ids)
        )
    )


def _locked(
    participant: Participant, conversation_id: int, *, campaign: Campaign | None = None
) -> Conversation:
    """The participant's conversation, locked, with its campaign, seed and settings."""
    found = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("campaign", "item", "campaign__conversation_settings")
        .filter(pk=conversation_id, participant=participant, deleted_at__isnull=True)
    )
    if campaign is not None:
        found = found.filter(campaign=campaign)
    conversation = found.first()
    if conversation is None:
        raise services.NotFound("This conversation is not yours.", field="conversation")
    conversation.participant = participant
    return conversation


def conversation_settings(conversation: Conversation) -> ConversationSettings | None:
    """The settings read with the conversation (`_locked`), without another query."""
    try:
        return conversation.campaign.conversation_settings
    except ConversationSettings.DoesNotExist:
        return None


def _check_open(conversation: Conversation) -> None:
    if conversation.withdrawn_at is not None:
        raise ConversationClosed("You have withdrawn this conversation.", field="conversation")
    if conversation.status != Conversation.Status.OPEN:
        raise ConversationClosed(
            f"This conversation is {conversation.get_status_display().lower()}.",
            field="conversation",
        )
    if conversation.campaign.status == Campaign.Status.CLOSED:
        raise ConversationClosed("This campaign is closed.", field="campaign")


# Extends a live lease in one statement: the assignment (still leased, its slot still
# held by it and not filled) and then its slot, rows locked in that order, as
# `response_submit` locks them. The slot's own conditions sit in its UPDATE too, so a
# slot taken by someone else between the two is left alone (PostgreSQL re-checks them
# on the row it waited for); the caller then raises and its transaction undoes both.
LEASE_KEEP_SQL = """
WITH kept AS (
    UPDATE collection_assignment a SET expires_at = %(expires)s
    WHERE a.id = %(assignment)s AND a.status = 'leased'
      AND (a.slot_id IS NULL OR EXISTS (
          SELECT 1 FROM collection_slot s
          WHERE s.id = a.slot_id AND s.holder_id = a.id AND NOT s.filled))
    RETURNING a.id, a.slot_id
), slot AS (
    UPDATE collection_slot s SET lease_expires_at = %(expires)s
    FROM kept
    WHERE s.id = kept.slot_id AND s.holder_id = kept.id AND NOT s.filled
    RETURNING s.id
)
SELECT (SELECT count(*) FROM kept), (SELECT bool_and(slot_id IS NULL) FROM kept),
       (SELECT count(*) FROM slot)
"""


def _keep_lease(conversation: Conversation, now: datetime) -> None:
    """Extend the conversation's lease by the campaign's lease time, or raise
    LeaseExpired when its slot went to someone else after it ran out (ConversationClosed
    when the lease was given up: closed, skipped, deleted, withdrawn)."""
    expires_at = now + timedelta(seconds=conversation.campaign.lease_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            LEASE_KEEP_SQL, {"expires": expires_at, "assignment": conversation.assignment_id}
        )
        kept, no_slot, slots = cursor.fetchone()
    if kept and (no_slot or slots):
        return
    if (
        kept
        or Assignment.objects.filter(
            pk=conversation.assignment_id, status=Assignment.Status.LEASED
        ).exists()
    ):
        raise services.LeaseExpired(
            "This conversation was left too long and its place went to someone else.",
            field="conversation",
        )
    raise ConversationClosed("This conversation has ended.", field="conversation")


def conversation_keep(
    *,
    participant: Participant,
    conversation_id: int,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Check that the conversation may take another turn and extend its lease (before
    the models are asked, so the place is kept while they answer); returns it with its
    campaign, seed and settings.

    No participant lock: the read checks what the page says, and the lease's one
    conditional UPDATE (`LEASE_KEEP_SQL`, in a transaction of its own so that a slot lost
    half-way undoes the assignment's part) is what decides. A conversation closed,
    skipped, deleted or abandoned in between has given its lease up (or its slot is
    someone else's), so that UPDATE changes nothing and this raises; it locks the
    assignment and then the slot, in the engine's order, so it cannot deadlock with a
    close or a submit."""
    now = now or timezone.now()
    conversation = (
        Conversation.objects.select_related("campaign", "item", "campaign__conversation_settings")
        .filter(pk=conversation_id, participant=participant, deleted_at__isnull=True)
        .filter(**({"campaign": campaign} if campaign is not None else {}))
        .first()
    )
    if conversation is None:
        raise services.NotFound("This conversation is not yours.", field="conversation")
    conversation.participant = participant
    _check_open(conversation)
    with _abandoned_if_lost(conversation_id, now), transaction.atomic():
        _keep_lease(conversation, now)
    return conversation


@contextlib.contextmanager
def _abandoned_if_lost(conversation_id: int, now: datetime):
    """A conversation whose slot went to someone else ends abandoned, after the
    transaction that found out has been undone (so the ending is not undone with it)."""
    try:
        yield
    except services.LeaseExpired:
        Conversation.objects.filter(pk=conversation_id, status=Conversation.Status.OPEN).update(
            status=Conversation.Status.ABANDONED,
            ended_by=Conversation.EndedBy.EXPIRED,
            closed_at=now,
            pending=None,
        )
        raise


def conversation_set_pending(
    *, participant: Participant, conversation_id: int, pending: dict | None
) -> dict | None:
    """Hold (or with None, drop) the current turn's replies until the participant judges
    them; one write once every reply has arrived or failed. Returns what is held (with
    its ``token``).

    One conditional UPDATE, so no participant lock: it holds no other lock while it
    waits for the conversation's row, and PostgreSQL re-checks that the conversation is
    still open on the row it waited for."""
    if pending is not None:
        pending = {**pending, "token": uuid.uuid4().hex}
    held = (
        Conversation.objects.filter(
            pk=conversation_id,
            participant=participant,
            deleted_at__isnull=True,
            withdrawn_at__isnull=True,
            status=Conversation.Status.OPEN,
        )
        .exclude(campaign__status=Campaign.Status.CLOSED)
        .update(pending=pending)
    )
    if not held:
        with transaction.atomic():
            _check_open(_locked(participant, conversation_id))
        raise ConversationClosed("This conversation has ended.", field="conversation")
    return pending


def turn_save(
    *,
    participant: Participant,
    conversation_id: int,
    token: str,
    judgement: dict,
    campaign: Campaign | None = None,
    rationale: str = "",
    edited_text: str = "",
    now: datetime | None = None,
) -> Turn:
    """Save the pending turn with the participant's judgement, whole, in one transaction.

    ``token`` names the replies the participant saw (``pending["token"]``): a form sent
    twice, or from a page showing older replies, is refused (Conflict) and changes
    nothing. ``judgement`` is in the campaign's format over the replies shown.
    """
    now = now or timezone.now()
    with _abandoned_if_lost(conversation_id, now), transaction.atomic():
        _lock_participant(participant)
        conversation = _locked(participant, conversation_id, campaign=campaign)
        _check_open(conversation)
        pending = conversation.pending
        if not pending or pending.get("token") != token:
            raise services.Conflict(
                "These replies were judged already, or replaced.", field="conversation"
            )
        campaign = conversation.campaign
        try:
            clean = conversation_kind.validate_judgement(
                judgement,
                shown=pending["shown"],
                preference_format=campaign.preference_format,
                rating_scale=campaign.rating_scale,
            )
            rationale = text_field(
                rationale, "rationale", limit=MAX_SHORT_CHARS, required=campaign.ask_rationale
            )
            edited = text_field(
                edited_text.replace("\r\n", "\n"),
                "edited_text",
                limit=MAX_MESSAGE_CHARS,
                required=False,
            )
        except PayloadError as error:
            raise services.payload_error(error) from error
        chosen = conversation_kind.continuing_reply(clean, pending["shown"])
        chosen_text = next(r["text"] for r in pending["replies"] if r["id"] == chosen)
        if edited.strip() == chosen_text.strip():
            edited = ""
        # The turns judged when the replies were asked (held with them since), else counted.
        index = pending.get("index")
        if not isinstance(index, int):
            index = conversation.turns.count()
        asked_at = datetime.fromisoformat(pending["asked_at"])
        turn = Turn.objects.create(
            conversation=conversation,
            index=index,
            history=pending["history"],
            message=pending["message"],
            replies=pending["replies"],
            shown=pending["shown"],
            judgement=clean,
            chosen=chosen,
            rationale=rationale,
            edited_text=edited,
            time_on_task_ms=max(0, min(86_400_000, round((now - asked_at).total_seconds() * 1000))),
            created_at=now,
        )
        conversation.pending = None
        conversation.save(update_fields=["pending"])
        _keep_lease(conversation, now)
    return turn


def conversation_close(
    *,
    participant: Participant,
    conversation_id: int,
    rating,
    rationale: str = "",
    ended_by: str = Conversation.EndedBy.PARTICIPANT,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> Conversation:
    """End the conversation with its closing rating: the engine's response, which fills
    the seed's slot. A conversation needs one judged turn first (else it is skipped)."""
    now = now or timezone.now()
    with _abandoned_if_lost(conversation_id, now), transaction.atomic():
        _lock_participant(participant)
        conversation = _locked(participant, conversation_id, campaign=campaign)
        _check_open(conversation)
        turns = conversation.turns.count()
        if not turns:
            raise services.ServiceError(
                "Judge at least one turn before you end the conversation, or skip it.",
                field="conversation",
            )
        setup = conversation_settings(conversation)
        if setup is not None and turns >= setup.turn_limit:
            ended_by = Conversation.EndedBy.TURN_LIMIT
        _keep_lease(conversation, now)
        # Closed first, in this transaction: the engine takes a conversation's response
        # only from a closed conversation (`services.responses._check_submittable`).
        conversation.status = Conversation.Status.CLOSED
        conversation.save(update_fields=["status"])
        submitted = services.response_submit(
            participant=participant,
            assignment_id=conversation.assignment_id,
            payload={"rating": rating, "rationale": rationale},
            time_on_task_ms=max(
                0, min(86_400_000, round((now - conversation.created_at).total_seconds() * 1000))
            ),
            idempotency_key=uuid.uuid4(),
            now=now,
        )
        payload = submitted.response.payload
        conversation.status = Conversation.Status.CLOSED
        conversation.closing_rating = payload["rating"]
        conversation.closing_comment = payload.get("rationale", "")
        conversation.ended_by = ended_by
        conversation.closed_at = now
        conversation.pending = None
        conversation.save(
            update_fields=[
                "status",
                "closing_rating",
                "closing_comment",
                "ended_by",
                "closed_at",
                "pending",
            ]
        )
    return conversation


def conversation_skip(
    *, participant: Participant, conversation_id: int, campaign: Campaign | None = None
) -> Conversation:
    """Pass on a conversation, before or after judged turns: it ends abandoned, without
    its closing rating, so its turns are in no release, and its seed goes to others.
    Skipping its lease through the API (`services.assignment_skip`) does the same."""
    with transaction.atomic():
        _lock_participant(participant)
        conversation = _locked(participant, conversation_id, campaign=campaign)
        _check_open(conversation)
        services.assignment_skip(participant=participant, assignment_id=conversation.assignment_id)
        conversation.refresh_from_db(fields=["status", "ended_by", "closed_at", "pending"])
    return conversation


def conversation_delete(
    *, participant: Participant, conversation_id: int, now: datetime | None = None
) -> Conversation:
    """Its person deletes a conversation: it is hidden from every page, its turns and its
    closing rating leave every later release, and its seed's slot is given back (as
    withdrawal gives slots back), so the campaign can still reach its k."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_participant(participant)
        conversation = _locked(participant, conversation_id)
        assignment = None
        if conversation.assignment_id is not None:
            assignment = (
                Assignment.objects.select_for_update().filter(pk=conversation.assignment_id).first()
            )
        if assignment is not None and assignment.status in (
            Assignment.Status.LEASED,
            Assignment.Status.COMPLETED,
        ):
            Response.objects.filter(assignment=assignment, withdrawn_at__isnull=True).update(
                withdrawn_at=now
            )
            assignment.status = Assignment.Status.RELEASED
            assignment.finished_at = now
            assignment.save(update_fields=["status", "finished_at"])
            Slot.objects.filter(holder=assignment).update(
                filled=False, holder=None, lease_expires_at=None
            )
        conversation.deleted_at = now
        conversation.withdrawn_at = conversation.withdrawn_at or now
        conversation.pending = None
        conversation.save(update_fields=["deleted_at", "withdrawn_at", "pending"])
    return conversation


def settings_record_usage(*, campaign_id: int, tokens: int) -> bool:
    """Add a turn's tokens to the campaign's count (one UPDATE, safe under concurrency);
    True when the budget is now spent."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE collection_conversationsettings SET tokens_used = tokens_used + %s "
            "WHERE campaign_id = %s RETURNING tokens_used, token_budget",
            [max(0, int(tokens)), campaign_id],
        )
        row = cursor.fetchone()
    return bool(row and row[1] is not None and row[0] >= row[1])


def campaign_pause_for_budget(*, campaign: Campaign) -> Campaign:
    """Pause an open campaign whose token budget is spent, saying so."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        setup = ConversationSettings.objects.select_for_update().get(campaign=campaign)
        setup.paused_reason = (
            f"Paused: its token budget of {setup.token_budget:,} is spent "
            f"({setup.tokens_used:,} used). A researcher can raise the budget and reopen it."
        )
        setup.save(update_fields=["paused_reason"])
        if campaign.status == Campaign.Status.OPEN:
            services.campaign_set_status(campaign=campaign, status=Campaign.Status.PAUSED)
    return campaign
