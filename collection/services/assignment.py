"""The assignment engine: serve the next item (lease), skip or flag, skip-and-next."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from collection import quotas, selectors
from collection.models import (
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Conversation,
    Item,
    Membership,
    Participant,
    Slot,
)
from collection.models.rows import _columns, _instances
from collection.services.errors import (
    Conflict,
    ConsentRequired,
    NotEligible,
    NotFound,
    ProfileRequired,
    ServiceError,
)
from collection.services.locks import _lock_participant


@dataclasses.dataclass(frozen=True)
class NoItem:
    """Why there is nothing to serve right now, in words for the annotator."""

    reason: str
    code: str


def _refusal(memberships: list[Membership]) -> ServiceError | None:
    """Why this participant may not annotate the campaign (or None): in the order the
    annotator fixes them (the audience, withdrawal, consent, the profile)."""
    if not memberships:
        return NotEligible("This campaign is not open to your audiences.", field="campaign")
    if memberships[0].withdrawn:
        return NotEligible("You have withdrawn from this campaign.", field="campaign")
    if not memberships[0].consented:
        return ConsentRequired("Please read and accept the consent form first.", field="consent")
    if not any(membership.profile_complete for membership in memberships):
        return ProfileRequired("Please fill in your profile first.", field="attributes")
    return None


def assignment_next(
    *,
    participant: Participant,
    campaign: Campaign,
    now: datetime | None = None,
    participant_locked: bool = False,
) -> Assignment | NoItem:
    """Lease the next item of ``campaign`` to ``participant``, or say why there is none.

    A participant holding a live lease gets it back (reloading the page does not
    burn items). ``campaign`` should be freshly read: its status is trusted.
    ``participant_locked``: the caller's transaction took the participant's advisory
    lock already, first, as the lock order asks (submit-and-next, skip-and-next).
    The lock is re-entrant, so taking it again would change nothing but cost a
    round trip.
    """
    now = now or timezone.now()
    if campaign.status != Campaign.Status.OPEN:
        return NoItem(f"This campaign is {campaign.get_status_display().lower()}.", "not_open")
    # No savepoint when nested (submit-and-next): nothing in here is recovered from.
    with transaction.atomic(savepoint=False):
        if not participant_locked:
            _lock_participant(participant)
        memberships, counts = selectors.memberships_and_counts(
            participant=participant, campaign=campaign
        )
        refusal = _refusal(memberships)
        if refusal is None:
            complete = [membership for membership in memberships if membership.profile_complete]
            served, held_back = _serve(participant, campaign, complete, counts, now)
    # Raised out here: raised inside the block above (which has no savepoint when
    # nested) it would undo the caller's submission too.
    if refusal is not None:
        raise refusal
    if served is not None:
        return served
    if held_back and any(_has_open_slots(m, campaign, now) for m in held_back):
        return NoItem(
            "The remaining places are kept for people from groups we have heard too little "
            "from. Thank you for your help!",
            "stratum_full",
        )
    return NoItem("There is nothing left for you to annotate in this campaign.", "exhausted")


def _serve(
    participant: Participant,
    campaign: Campaign,
    memberships: list[Membership],
    counts: selectors.ParticipantCounts,
    now: datetime,
) -> tuple[Assignment | NoItem | None, list[Membership]]:
    """The participant's item under their lock: their live (or renewed) lease, the cap,
    an attention check, else the first free slot of a membership whose group is under
    its quota. None and the memberships held back by their quota when nothing is free."""
    if counts.current_lease is not None:
        current = Assignment.objects.select_related("item").get(pk=counts.current_lease)
        if current.expires_at > now:
            return current, []
        if _renew(current, now=now, lease=campaign.lease_seconds):
            return current, []
    if campaign.per_participant_cap and counts.completed >= campaign.per_participant_cap:
        return NoItem(
            f"You have reached this campaign's limit of {campaign.per_participant_cap} "
            "items. Thank you!",
            "cap_reached",
        ), []
    if _attention_check_due(campaign, counts):
        item_id = selectors.attention_check_next(participant=participant, campaign=campaign)
        if item_id is not None:
            return Assignment.objects.create(
                campaign=campaign,
                audience_id=memberships[0].audience_id,
                item_id=item_id,
                participant=participant,
                leased_at=now,
                expires_at=now + timedelta(seconds=campaign.lease_seconds),
            ), []
    held_back = []
    for membership in memberships:
        if not _stratum_may_take(membership, campaign, now):
            held_back.append(membership)
            continue
        slot = selectors.slot_next_free(
            participant=participant,
            campaign=campaign,
            audience_id=membership.audience_id,
            now=now,
        )
        if slot is not None:
            return _lease(slot, participant=participant, now=now, campaign=campaign), []
    return None, held_back


# The lease in one round trip: the assignment row, the slot marked as held by it, and
# the item read back for the reply (three statements through the ORM, measured in
# benchmarks/README.md, "Submitting judgements"). The slot is row-locked already
# (slot_next_free), so the UPDATE waits for nothing.
LEASE_SQL = f"""
WITH new AS (
    INSERT INTO collection_assignment
        (campaign_id, audience_id, item_id, participant_id, slot_id, status,
         leased_at, expires_at, finished_at, flag_reason, flag_resolution, flag_resolved_at)
    VALUES (%(campaign)s, %(audience)s, %(item)s, %(participant)s, %(slot)s,
            '{Assignment.Status.LEASED}', %(now)s, %(expires)s, NULL, '', '', NULL)
    RETURNING *
), held AS (
    UPDATE collection_slot SET holder_id = (SELECT id FROM new), lease_expires_at = %(expires)s
    WHERE id = %(slot)s
)
SELECT {_columns(Assignment, "new")}, {_columns(Item, "i")}
FROM new JOIN collection_item i ON i.id = new.item_id
"""


def _lease(
    slot: Slot, *, participant: Participant, now: datetime, campaign: Campaign
) -> Assignment:
    expires_at = now + timedelta(seconds=campaign.lease_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            LEASE_SQL,
            {
                "campaign": slot.campaign_id,
                "audience": slot.audience_id,
                "item": slot.item_id,
                "participant": participant.pk,
                "slot": slot.pk,
                "now": now,
                "expires": expires_at,
            },
        )
        row = cursor.fetchone()
    assignment, item = _instances(row, Assignment, Item)
    Assignment.item.field.set_cached_value(assignment, item)
    Assignment.participant.field.set_cached_value(assignment, participant)
    # An expired lease taken over: in a conversation campaign, its conversation ends.
    if slot.holder_id is not None and campaign.item_kind == Campaign.ItemKind.CONVERSATION:
        _abandon_conversation_of(
            slot.holder_id, Conversation.EndedBy.EXPIRED, now, skip_locked=True
        )
    return assignment


def _abandon_conversation_of(
    assignment_id: int, ended_by: str, now: datetime, *, skip_locked: bool = False
) -> None:
    """The open conversation on a lease given up or lost ends, abandoned, without its
    closing rating (so it is in no release).

    ``skip_locked``: the lease was someone else's, taken over once it ran out. Their
    conversation row may be locked by their own turn (participant lock, conversation,
    then assignment and slot); waiting for it while holding this slot could deadlock, so
    a locked row is left: that turn fails on the slot it lost, and the conversation is
    abandoned then (`collection.conversations`) or when they next start one."""
    rows = Conversation.objects.filter(assignment_id=assignment_id, status=Conversation.Status.OPEN)
    if skip_locked:
        rows = Conversation.objects.filter(
            pk__in=rows.select_for_update(skip_locked=True).values("pk")
        )
    rows.update(
        status=Conversation.Status.ABANDONED, ended_by=ended_by, closed_at=now, pending=None
    )


def _renew(assignment: Assignment, *, now: datetime, lease: int) -> bool:
    """Extend an expired lease if its slot has not been given to anyone else."""
    expires_at = now + timedelta(seconds=lease)
    if assignment.slot_id is None:
        renewed = True
    else:
        slot = (
            Slot.objects.select_for_update(skip_locked=True)
            .filter(pk=assignment.slot_id, holder=assignment, filled=False)
            .first()
        )
        renewed = slot is not None
        if renewed:
            Slot.objects.filter(pk=slot.pk).update(lease_expires_at=expires_at)
    if renewed:
        assignment.expires_at = expires_at
        assignment.save(update_fields=["expires_at"])
    return renewed


def _attention_check_due(campaign: Campaign, counts: selectors.ParticipantCounts) -> bool:
    """Spread checks evenly: the next item is a check while checks lag the share."""
    share = campaign.attention_check_share
    if share <= 0:
        return False
    return counts.attention_checks + 1 <= share * (counts.assigned + 1)


def _stratum_may_take(membership: Membership, campaign: Campaign, now: datetime) -> bool:
    """Public audiences with targets: whether this member's group is still under its
    quota of the campaign's slots for the audience (`collection.quotas`: value v of an
    attribute may hold ceil(share(v) x slots) of them, filled or live-leased).

    Counted live in this transaction, after taking the advisory lock of each of the
    member's groups (sorted, so two members never wait on each other in a cycle), so
    two members of one group cannot both take the last place of its quota. Until the
    researcher releases the quotas (`CampaignAudience.quota_release_at`), a group that
    reached its share waits, from the first slot on: no early surplus is locked in.
    """
    audience = membership.audience
    if audience.kind != Audience.Kind.PUBLIC or not audience.target_marginals:
        return True
    released = (
        CampaignAudience.objects.filter(campaign=campaign, audience=audience)
        .values_list("quota_release_at", flat=True)
        .first()
    )
    if released is not None and released <= now:
        return True
    groups = sorted(
        (name, str(membership.attributes.get(name))) for name in audience.target_marginals
    )
    with connection.cursor() as cursor:
        for name, value in groups:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [QUOTA_LOCK_CLASS, f"{campaign.pk}:{audience.pk}:{name}:{value}"],
            )
    held = selectors.slots_held_by_group(campaign=campaign, audience=audience, now=now)
    quota = quotas.quota_for(
        places=held.slots, target_marginals=audience.target_marginals, cells=()
    )
    decision = quotas.decide(
        dict(membership.attributes), quota, taken_total=held.held, taken=held.by_group
    )
    return decision.outcome == quotas.OK


def _has_open_slots(membership: Membership, campaign: Campaign, now: datetime) -> bool:
    counts = selectors.slot_counts_by_audience(
        campaign=campaign, now=now, audience_ids=[membership.audience_id]
    ).get(membership.audience_id, selectors.SlotCounts())
    return counts.slots > counts.filled + counts.live_leases


# The second key space of advisory locks (the participant's is 0x504C5552, "PLUR").
QUOTA_LOCK_CLASS = 0x51554F54  # "QUOT"


def assignment_skip(
    *,
    participant: Participant,
    assignment_id: int,
    flag_reason: str = "",
    now: datetime | None = None,
) -> Assignment:
    """Pass on an item (optionally flagging it with a reason); it is not served again."""
    now = now or timezone.now()
    flag_reason = (flag_reason or "").strip()
    if len(flag_reason) > 1000:
        raise ServiceError("At most 1000 characters.", field="flag_reason")
    with transaction.atomic():
        _lock_participant(participant)
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .filter(pk=assignment_id, participant=participant)
            .first()
        )
        if assignment is None:
            raise NotFound("This item is not assigned to you.", field="assignment")
        if assignment.status != Assignment.Status.LEASED:
            raise Conflict(f"This item was {assignment.status} already.", field="assignment")
        assignment.status = Assignment.Status.FLAGGED if flag_reason else Assignment.Status.SKIPPED
        assignment.flag_reason = flag_reason
        assignment.finished_at = now
        assignment.save(update_fields=["status", "flag_reason", "finished_at"])
        if assignment.slot_id is not None:
            Slot.objects.filter(pk=assignment.slot_id, holder=assignment).update(
                holder=None, lease_expires_at=None
            )
        if assignment.campaign.item_kind == Campaign.ItemKind.CONVERSATION:
            _abandon_conversation_of(assignment.pk, Conversation.EndedBy.SKIPPED, now)
    return assignment


def assignment_skip_and_next(
    *, participant: Participant, assignment_id: int, flag_reason: str = ""
) -> Assignment | NoItem:
    """Skip (or flag) an item and lease the next one in one transaction, as
    `response_submit_and_next` does for answers: one commit per skip. A refusal to
    serve the next item does not undo the skip."""
    with transaction.atomic():
        assignment = assignment_skip(
            participant=participant, assignment_id=assignment_id, flag_reason=flag_reason
        )
        try:
            return assignment_next(
                participant=participant, campaign=assignment.campaign, participant_locked=True
            )
        except ServiceError as error:
            return NoItem(error.message, error.code)
