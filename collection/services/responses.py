"""Submitting an answer: validated, stored once per idempotency key, slot filled."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from collection import kinds, payloads, selectors
from collection.models import Assignment, Campaign, Conversation, Participant, Response
from collection.services.assignment import NoItem, assignment_next
from collection.services.errors import Conflict, LeaseExpired, NotFound, ServiceError, payload_error
from collection.services.locks import _lock_participant


@dataclasses.dataclass(frozen=True)
class Submission:
    response: Response
    created: bool


def response_submit(
    *,
    participant: Participant,
    assignment_id: int,
    payload: dict,
    time_on_task_ms: int,
    idempotency_key: uuid.UUID | str,
    now: datetime | None = None,
) -> Submission:
    """Store a participant's answer to their leased item, once per idempotency key."""
    now = now or timezone.now()
    idempotency_key = _checked_input(idempotency_key, time_on_task_ms)
    try:
        with transaction.atomic():
            return _submit(
                participant, assignment_id, payload, time_on_task_ms, idempotency_key, now
            )
    except IntegrityError as clash:
        return _after_key_clash(participant, idempotency_key, assignment_id, clash)


def response_submit_and_next(
    *,
    participant: Participant,
    assignment_id: int,
    payload: dict,
    time_on_task_ms: int,
    idempotency_key: uuid.UUID | str,
    now: datetime | None = None,
) -> tuple[Submission, Assignment | NoItem]:
    """Submit an answer and lease the next item in one transaction: one commit (and
    one round trip for API clients) per judgement. A refusal to serve the next
    item (say the participant withdrew meanwhile) does not undo the submission.

    The submission opens no savepoint of its own (two round trips): a clash on the
    idempotency key rolls the whole transaction back and is answered after it, the
    next item then served in a transaction of its own.
    """
    now = now or timezone.now()
    idempotency_key = _checked_input(idempotency_key, time_on_task_ms)
    try:
        with transaction.atomic():
            stored = _submit(
                participant, assignment_id, payload, time_on_task_ms, idempotency_key, now
            )
            return stored, _next_or_reason(participant, stored.response.campaign, locked=True)
    except IntegrityError as clash:
        stored = _after_key_clash(participant, idempotency_key, assignment_id, clash)
    return stored, _next_or_reason(participant, stored.response.campaign, locked=False)


def _checked_input(idempotency_key, time_on_task_ms) -> uuid.UUID:
    if not isinstance(time_on_task_ms, int) or not 0 <= time_on_task_ms <= 86_400_000:
        raise ServiceError(
            "Must be a whole number of milliseconds, at most a day.", field="time_on_task_ms"
        )
    try:
        return uuid.UUID(str(idempotency_key))
    except ValueError as error:
        raise ServiceError("Must be a UUID.", field="idempotency_key") from error


def _submit(participant, assignment_id, payload, time_on_task_ms, idempotency_key, now):
    """The submission's writes; inside the caller's transaction, lock order step 1 first."""
    _lock_participant(participant)
    assignment = selectors.assignment_for_update(
        participant=participant, assignment_id=assignment_id
    )
    if assignment is None:
        raise NotFound("This item is not assigned to you.", field="assignment")
    if assignment.status == Assignment.Status.COMPLETED:
        previous = _response_by_key(participant, idempotency_key, assignment_id)
        if previous is not None:
            return Submission(previous, created=False)
    _check_submittable(assignment, now=now)
    response = _store_response(assignment, payload, time_on_task_ms, idempotency_key, now=now)
    return Submission(response, created=True)


def _after_key_clash(participant, idempotency_key, assignment_id, clash) -> Submission:
    """The key was used before: by a concurrent retry of this submission (return what
    it stored) or for another item (refused)."""
    previous = _response_by_key(participant, idempotency_key, assignment_id)
    if previous is None:
        raise clash
    return Submission(previous, created=False)


def _next_or_reason(participant, campaign, *, locked: bool) -> Assignment | NoItem:
    try:
        return assignment_next(
            participant=participant, campaign=campaign, participant_locked=locked
        )
    except ServiceError as error:
        return NoItem(error.message, error.code)


def _response_by_key(participant, idempotency_key, assignment_id) -> Response | None:
    response = Response.objects.filter(
        participant=participant, idempotency_key=idempotency_key
    ).first()
    if response is not None and response.assignment_id != assignment_id:
        raise Conflict("This idempotency key was used for another item.", field="idempotency_key")
    return response


def _check_submittable(assignment: Assignment, *, now: datetime) -> None:
    if assignment.status == Assignment.Status.COMPLETED:
        raise Conflict("You have answered this item already.", field="assignment")
    if assignment.status == Assignment.Status.RELEASED:
        raise Conflict("You have withdrawn, so this answer was not saved.", field="assignment")
    if assignment.status != Assignment.Status.LEASED:
        raise Conflict(f"This item was {assignment.status}.", field="assignment")
    if assignment.campaign.status == Campaign.Status.CLOSED:
        raise Conflict("This campaign is closed.", field="campaign")
    if kinds.get(assignment.campaign.item_kind).annotate_url_name and not (
        Conversation.objects.filter(
            assignment_id=assignment.pk, status=Conversation.Status.CLOSED
        ).exists()
    ):
        # A conversation's response is its closing rating, stored as the conversation
        # closes (`collection.conversations.conversation_close`), never sent on its own.
        raise Conflict(
            "Conversations are answered on their own page, turn by turn.", field="assignment"
        )
    if assignment.expires_at <= now:
        raise LeaseExpired(
            "Your time for this item ran out and it may have gone to someone else. "
            "Here is the next one.",
            field="assignment",
        )


def answer_checked(campaign, item, payload: dict) -> dict:
    """An answer to the item, checked by the kind's rules and the campaign's settings
    (a refusal names its field); what submitting and changing an answer store."""
    try:
        return payloads.validate_response(
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


# Storing an answer in one round trip: fill the slot the assignment holds, insert the
# response only if that succeeded (or the item has no slot: attention checks), and mark
# the assignment completed only if the response went in (three statements through the
# ORM). No id back means the slot was no longer this assignment's: nothing was written.
# A reused idempotency key fails the INSERT (IntegrityError) as before.
STORE_SQL = f"""
WITH filled AS (
    UPDATE collection_slot SET filled = true, lease_expires_at = NULL
    WHERE id = %(slot)s AND holder_id = %(assignment)s AND NOT filled
    RETURNING id
), stored AS (
    INSERT INTO collection_response
        (campaign_id, audience_id, item_id, participant_id, assignment_id, payload,
         time_on_task_ms, idempotency_key, attention_passed, created_at, withdrawn_at,
         review, reviewed_at)
    SELECT %(campaign)s, %(audience)s, %(item)s, %(participant)s, %(assignment)s,
           %(payload)s, %(time_on_task_ms)s, %(key)s, %(attention_passed)s, %(now)s, NULL,
           '', NULL
    WHERE %(slot)s::bigint IS NULL OR EXISTS (SELECT 1 FROM filled)
    RETURNING id
), done AS (
    UPDATE collection_assignment SET status = '{Assignment.Status.COMPLETED}',
                                     finished_at = %(now)s
    WHERE id = %(assignment)s AND EXISTS (SELECT 1 FROM stored)
)
SELECT id FROM stored
"""


def _store_response(
    assignment: Assignment,
    payload: dict,
    time_on_task_ms: int,
    idempotency_key: uuid.UUID,
    *,
    now: datetime,
) -> Response:
    campaign, item = assignment.campaign, assignment.item
    clean = answer_checked(campaign, item, payload)
    attention_passed = (
        payloads.attention_check_passed(item.expected, clean) if item.is_attention_check else None
    )
    with connection.cursor() as cursor:
        cursor.execute(
            STORE_SQL,
            {
                "slot": assignment.slot_id,
                "assignment": assignment.pk,
                "campaign": campaign.pk,
                "audience": assignment.audience_id,
                "item": item.pk,
                "participant": assignment.participant_id,
                "payload": Response._meta.get_field("payload").get_db_prep_value(clean, connection),
                "time_on_task_ms": time_on_task_ms,
                "key": idempotency_key,
                "attention_passed": attention_passed,
                "now": now,
            },
        )
        row = cursor.fetchone()
    if row is None:
        raise LeaseExpired("Your time for this item ran out.", field="assignment")
    assignment.status = Assignment.Status.COMPLETED
    assignment.finished_at = now
    response = Response(
        id=row[0],
        campaign=campaign,
        audience_id=assignment.audience_id,
        item=item,
        participant_id=assignment.participant_id,
        assignment=assignment,
        payload=clean,
        time_on_task_ms=time_on_task_ms,
        idempotency_key=idempotency_key,
        created_at=now,
        attention_passed=attention_passed,
        review="",
    )
    response._state.adding, response._state.db = False, connection.alias
    return response
