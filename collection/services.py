"""Every write to collected data: joining, consent, campaigns, items, the assignment engine.

The engine's invariants (docs/architecture.md, "Invariants") and how they are held:

- capacity lives in `Slot` rows (k per item and audience); a lease or a response
  occupies one slot, so completed + live leases never exceed k;
- the next free slot is found by walking the partial index ``slot_open_in_order``
  and locked with ``FOR UPDATE SKIP LOCKED``: concurrent annotators take
  different slots without waiting for each other;
- one participant's requests are serialised by an advisory lock on their id, so
  two tabs cannot both pass the per-participant cap;
- ``Assignment`` has one row per (item, participant) ever, so nobody is served
  the same item twice, even after a skip;
- a submission is stored once per idempotency key (unique per participant).

Lock order. Every transaction that touches a participant's work takes its locks in
this order, and only this order, so no two of them can wait on each other in a cycle
(a submission once locked its assignment and then the participant, while withdrawal
did the reverse: an outside probe saw 75 of 128 simultaneous pairs deadlock, the race
test 43-47 of 128 requests):

1. the participant's advisory lock (``_lock_participant``), first, before any row;
2. the audience row, then the invitation row (joining only);
3. the participant's assignment rows;
4. slot rows: only the slot an assignment of theirs holds (a plain lock), or a free
   one taken with SKIP LOCKED, which never waits;
5. inserts (responses, assignments, memberships, consents, withdrawals).

Submitting, skipping and flagging, serving the next item (renewing one's own expired
lease, or taking over another's with SKIP LOCKED), withdrawing from a campaign or the
platform, joining and consenting all follow it; `tests/collection/test_lock_order.py`
races submissions against withdrawals through the API. Researchers' changes to k
(``campaign_sync_slots``) take no participant lock and touch only free slots. An
import takes no participant lock either: it holds its campaign's slot creation
(``slots.campaign_lock_slots``, the campaign row FOR NO KEY UPDATE) for its whole
transaction, which no lock above waits for.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from collection import imports, kinds, payloads, selectors
from collection.authentication import token_hash
from collection.models import (
    ApiToken,
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Consent,
    Conversation,
    Invitation,
    Item,
    Membership,
    Participant,
    Response,
    Slot,
    Withdrawal,
)
from collection.slots import campaign_sync_slots


class ServiceError(Exception):
    """A request the platform refuses, with the field it concerns and a plain message."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class LeaseExpired(Conflict):
    code = "lease_expired"


class ConsentRequired(ServiceError):
    status = 403
    code = "consent_required"


class ProfileRequired(ServiceError):
    status = 403
    code = "profile_required"


class NotEligible(ServiceError):
    status = 403
    code = "not_eligible"


class Withdrawn(NotEligible):
    code = "withdrawn"


def payload_error(error: payloads.PayloadError) -> ServiceError:
    return ServiceError(error.message, field=error.field)


# API tokens --------------------------------------------------------------------------


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token and its key; only the key's hash is stored, so show the key now."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError("Give the token a name of at most 100 characters.", field="name")
    try:
        payloads.check_text(name, "name")
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    key = "pa_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=token_hash(key))
    return token, key


def api_token_revoke(*, user, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("You have no such token.", field="token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


# Participants and audiences ------------------------------------------------------


def participant_get_or_create(*, user) -> Participant:
    try:
        return user.participant  # often loaded with the user already
    except Participant.DoesNotExist:
        participant, _ = Participant.objects.get_or_create(user=user)
        return participant


def audience_create(
    *,
    slug: str,
    name: str,
    kind: str,
    description: str = "",
    attribute_schema: list | None = None,
    target_marginals: dict | None = None,
    screened: bool = False,
    max_members: int | None = None,
    created_by=None,
) -> Audience:
    if kind not in Audience.Kind.values:
        raise ServiceError(f"Unknown audience kind {kind!r}.", field="kind")
    try:
        schema = payloads.validate_attribute_schema(attribute_schema or [])
        targets = payloads.validate_target_marginals(target_marginals or {}, schema, kind=kind)
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    if kind == Audience.Kind.DYADIC:
        max_members = 1
    if kind == Audience.Kind.GROUP and not max_members:
        raise ServiceError("A group audience needs a member limit.", field="max_members")
    if Audience.objects.filter(slug=slug).exists():
        raise Conflict(f"An audience with slug {slug!r} exists already.", field="slug")
    return Audience.objects.create(
        slug=slug,
        name=name,
        kind=kind,
        description=description,
        attribute_schema=schema,
        target_marginals=targets,
        screened=screened,
        max_members=max_members,
        created_by=created_by,
    )


def audience_set_targets(*, audience: Audience, target_marginals: dict) -> Audience:
    try:
        audience.target_marginals = payloads.validate_target_marginals(
            target_marginals, audience.attribute_schema, kind=audience.kind
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    audience.save(update_fields=["target_marginals"])
    return audience


def invitation_create(
    *,
    audience: Audience,
    created_by=None,
    max_uses: int = 1,
    note: str = "",
    expires_at: datetime | None = None,
) -> Invitation:
    if audience.kind == Audience.Kind.DYADIC:
        max_uses = 1
    return Invitation.objects.create(
        audience=audience,
        created_by=created_by,
        max_uses=max_uses,
        note=note,
        expires_at=expires_at,
    )


def membership_join(
    *,
    participant: Participant,
    audience: Audience,
    invitation: Invitation | None = None,
    attributes: dict | None = None,
) -> Membership:
    """Add a participant to an audience, by open sign-up or by invitation, with their
    attributes if given (an existing member's are replaced).

    All or nothing: the attributes are checked before anything is locked or written,
    and the membership and the invitation's use are saved in one transaction, so a
    refused join neither keeps a seat nor uses up the invitation.
    """
    clean_attributes = None
    if attributes is not None:
        try:
            clean_attributes = payloads.validate_attributes(attributes, audience.attribute_schema)
        except payloads.PayloadError as error:
            raise payload_error(error) from error
    with transaction.atomic():
        _lock_participant(participant)
        participant_ensure_not_withdrawn(participant=participant)
        # Locking the audience row serialises joins, so the member limit holds however
        # many people take the last seat at once.
        audience = Audience.objects.select_for_update().get(pk=audience.pk)
        existing = Membership.objects.filter(participant=participant, audience=audience).first()
        if existing:
            if clean_attributes is not None and existing.attributes != clean_attributes:
                existing.attributes = clean_attributes
                existing.save(update_fields=["attributes"])
            return existing
        if invitation is None and not audience.is_open_signup:
            raise NotEligible(f"{audience.name} is by invitation only.", field="audience")
        if invitation is not None:
            invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
            if invitation.audience_id != audience.pk or not invitation.is_usable():
                raise NotEligible("This invitation link is no longer valid.", field="invitation")
        if audience.max_members and audience.memberships.count() >= audience.max_members:
            raise Conflict(f"{audience.name} is full.", field="audience")
        membership = Membership.objects.create(
            participant=participant,
            audience=audience,
            audience_kind=audience.kind,
            attributes=clean_attributes or {},
            invitation=invitation,
        )
        if invitation is not None:
            invitation.uses += 1
            invitation.save(update_fields=["uses"])
        return membership


def invitation_accept(
    *, token: str, participant: Participant, attributes: dict | None = None
) -> Membership:
    invitation = Invitation.objects.select_related("audience").filter(token=token).first()
    if invitation is None:
        raise NotFound("There is no such invitation.", field="token")
    return membership_join(
        participant=participant,
        audience=invitation.audience,
        invitation=invitation,
        attributes=attributes,
    )


def membership_set_attributes(*, membership: Membership, attributes: dict) -> Membership:
    try:
        membership.attributes = payloads.validate_attributes(
            attributes, membership.audience.attribute_schema
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    membership.save(update_fields=["attributes"])
    return membership


def consent_give(*, participant: Participant, campaign: Campaign) -> Consent:
    """Record consent to the campaign's current text; refused once the participant has
    withdrawn from it (or from the platform): consent would be to nothing."""
    with transaction.atomic():
        _lock_participant(participant)
        participant_ensure_not_withdrawn(participant=participant, campaign=campaign)
        consent, _ = Consent.objects.get_or_create(
            participant=participant,
            campaign=campaign,
            version=campaign.consent_version,
            defaults={"text": campaign.consent_text},
        )
    return consent


def participant_ensure_not_withdrawn(
    *, participant: Participant, campaign: Campaign | None = None
) -> None:
    """Refuse (Withdrawn, 403) anyone who has left the platform, or ``campaign``; pages
    call it too, to show the refusal in place of a form."""
    withdrawal = selectors.withdrawal_covering(participant=participant, campaign=campaign)
    if withdrawal is None:
        return
    if withdrawal.campaign_id is None:
        raise Withdrawn(
            "You have withdrawn from the platform, so you cannot join audiences or take "
            "part in campaigns any more.",
            field="participant",
        )
    raise Withdrawn("You have withdrawn from this campaign.", field="campaign")


# Campaigns and items -------------------------------------------------------------


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
    for name, value in fields.items():
        setattr(campaign, name, value)
    try:
        campaign.full_clean(exclude=["owners", "slug"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ServiceError(" ".join(messages), field=field) from error
    with transaction.atomic():
        campaign.save()
        _campaign_set_targets(campaign, list(targets))
    return campaign


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


def items_create(*, campaign: Campaign, rows: Iterable[dict]) -> int:
    """Validate and insert items, all or nothing; each row as in the JSONL import format.

    Raises ServiceError naming the row (1-based) and field of the first bad row.
    """
    try:
        return imports.items_insert(campaign=campaign, rows=enumerate(rows, start=1))
    except imports.ImportFileError as error:
        raise ServiceError(str(error), field=error.field) from error


@transaction.atomic
def item_candidates_append(*, item_id: int, candidates: list[dict]) -> Item:
    """Add generated candidates to a preference item; it becomes servable at two.

    Each candidate is ``{"text", "source", "generation": {"request": id, ...}}``; one
    whose generation request is on the item already is left out, so a job that runs
    again after a killed worker adds nothing twice. Ids continue a, b, c....
    """
    item = Item.objects.select_for_update().select_related("campaign").get(pk=item_id)
    campaign = item.campaign
    if not kinds.get(campaign.item_kind).has_candidates:
        raise ServiceError("Only preference items have candidates.", field="item")
    present = list(item.candidates)
    done = {(c.get("generation") or {}).get("request") for c in present} - {None}
    used = {c["id"] for c in present}
    free = (letter for letter in "abcdefghi" if letter not in used)
    for candidate in candidates:
        if (candidate.get("generation") or {}).get("request") in done:
            continue
        present.append({"id": next(free, f"g{len(present)}"), **candidate})
    try:
        clean = payloads.validate_item_payload(
            campaign.item_kind,
            {"candidates": present},
            preference_format=campaign.preference_format,
            prompts_only=True,
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    was_servable = len(item.candidates) >= 2
    item.payload = clean
    item.save(update_fields=["payload"])
    if not was_servable and len(clean["candidates"]) >= 2 and not item.is_attention_check:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
                SELECT t.campaign_id, t.audience_id, %s, s.n, false
                FROM collection_campaignaudience t
                CROSS JOIN LATERAL generate_series(0, t.overlap_k - 1) AS s(n)
                WHERE t.campaign_id = %s
                ORDER BY t.audience_id, s.n
                ON CONFLICT (item_id, audience_id, index) DO NOTHING
                """,
                [item.pk, campaign.pk],
            )
    return item


# The assignment engine -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoItem:
    """Why there is nothing to serve right now, in words for the annotator."""

    reason: str
    code: str


def _lock_participant(participant: Participant) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x504C5552, participant.pk])


def _check_may_annotate(participant: Participant, campaign: Campaign) -> list[Membership]:
    memberships = selectors.memberships_for_campaign(participant=participant, campaign=campaign)
    if not memberships:
        raise NotEligible("This campaign is not open to your audiences.", field="campaign")
    if memberships[0].withdrawn:
        raise NotEligible("You have withdrawn from this campaign.", field="campaign")
    if not memberships[0].consented:
        raise ConsentRequired("Please read and accept the consent form first.", field="consent")
    complete = [membership for membership in memberships if membership.profile_complete]
    if not complete:
        raise ProfileRequired("Please fill in your profile first.", field="attributes")
    return complete


def assignment_next(
    *, participant: Participant, campaign: Campaign, now: datetime | None = None
) -> Assignment | NoItem:
    """Lease the next item of ``campaign`` to ``participant``, or say why there is none.

    A participant holding a live lease gets it back (reloading the page does not
    burn items). ``campaign`` should be freshly read: its status is trusted.
    """
    now = now or timezone.now()
    if campaign.status != Campaign.Status.OPEN:
        return NoItem(f"This campaign is {campaign.get_status_display().lower()}.", "not_open")
    memberships = _check_may_annotate(participant, campaign)
    # No savepoint when nested (submit-and-next): nothing in here is recovered from.
    with transaction.atomic(savepoint=False):
        _lock_participant(participant)
        counts = selectors.participant_campaign_counts(participant=participant, campaign=campaign)
        if counts.current_lease is not None:
            current = Assignment.objects.select_related("item").get(pk=counts.current_lease)
            if current.expires_at > now:
                return current
            if _renew(current, now=now, lease=campaign.lease_seconds):
                return current
        if campaign.per_participant_cap and counts.completed >= campaign.per_participant_cap:
            return NoItem(
                f"You have reached this campaign's limit of {campaign.per_participant_cap} "
                "items. Thank you!",
                "cap_reached",
            )
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
                )
        held_back = []
        for membership in memberships:
            if not _stratum_may_take(membership, campaign):
                held_back.append(membership)
                continue
            slot = selectors.slot_next_free(
                participant=participant,
                campaign=campaign,
                audience_id=membership.audience_id,
                now=now,
            )
            if slot is not None:
                return _lease(slot, participant=participant, now=now, lease=campaign.lease_seconds)
    if held_back:
        return NoItem(
            "The remaining places are kept for people from groups we have heard too little "
            "from. Thank you for your help!",
            "stratum_full",
        )
    return NoItem("There is nothing left for you to annotate in this campaign.", "exhausted")


def _lease(slot: Slot, *, participant: Participant, now: datetime, lease: int) -> Assignment:
    expires_at = now + timedelta(seconds=lease)
    assignment = Assignment.objects.create(
        campaign_id=slot.campaign_id,
        audience_id=slot.audience_id,
        item_id=slot.item_id,
        participant=participant,
        slot=slot,
        leased_at=now,
        expires_at=expires_at,
    )
    Slot.objects.filter(pk=slot.pk).update(holder=assignment, lease_expires_at=expires_at)
    return assignment


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


STRATA_CACHE_SECONDS = 30


def _stratum_may_take(membership: Membership, campaign: Campaign) -> bool:
    """For public audiences with targets: once slots are scarce, keep them for strata
    still below their target share (quota sampling)."""
    audience = membership.audience
    if audience.kind != Audience.Kind.PUBLIC or not audience.target_marginals:
        return True
    key = f"strata:{campaign.pk}:{audience.pk}"
    status = cache.get(key)
    if status is None:
        status = selectors.stratum_status(campaign=campaign, audience=audience)
        cache.set(key, status, STRATA_CACHE_SECONDS)
    if not status["scarce"]:
        return True
    below = status["below_target"]
    return any(
        membership.attributes.get(name) in below.get(name, ()) for name in audience.target_marginals
    )


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
    try:
        idempotency_key = uuid.UUID(str(idempotency_key))
    except ValueError as error:
        raise ServiceError("Must be a UUID.", field="idempotency_key") from error
    if not isinstance(time_on_task_ms, int) or not 0 <= time_on_task_ms <= 86_400_000:
        raise ServiceError(
            "Must be a whole number of milliseconds, at most a day.", field="time_on_task_ms"
        )
    try:
        with transaction.atomic():
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
            response = _store_response(
                assignment, payload, time_on_task_ms, idempotency_key, now=now
            )
    except IntegrityError:
        # The key was used before: by a concurrent retry of this submission (return
        # what it stored) or for another item (refused).
        previous = _response_by_key(participant, idempotency_key, assignment_id)
        if previous is None:
            raise
        return Submission(previous, created=False)
    return Submission(response, created=True)


def response_submit_and_next(
    *, participant: Participant, assignment_id: int, **submission
) -> tuple[Submission, Assignment | NoItem]:
    """Submit an answer and lease the next item in one transaction: one commit (and
    one round trip for API clients) per judgement. A refusal to serve the next
    item (say the participant withdrew meanwhile) does not undo the submission."""
    with transaction.atomic():
        stored = response_submit(participant=participant, assignment_id=assignment_id, **submission)
        try:
            following = assignment_next(participant=participant, campaign=stored.response.campaign)
        except ServiceError as error:
            following = NoItem(error.message, error.code)
    return stored, following


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
    if assignment.expires_at <= now:
        raise LeaseExpired(
            "Your time for this item ran out and it may have gone to someone else. "
            "Here is the next one.",
            field="assignment",
        )


def _store_response(
    assignment: Assignment,
    payload: dict,
    time_on_task_ms: int,
    idempotency_key: uuid.UUID,
    *,
    now: datetime,
) -> Response:
    campaign, item = assignment.campaign, assignment.item
    try:
        clean = payloads.validate_response(
            kind=campaign.item_kind,
            payload=payload,
            item_payload=item.payload,
            preference_format=campaign.preference_format,
            rating_scale=campaign.rating_scale,
            ask_rationale=campaign.ask_rationale,
            ask_confidence=campaign.ask_confidence,
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    if assignment.slot_id is not None:
        taken = Slot.objects.filter(pk=assignment.slot_id, holder=assignment, filled=False).update(
            filled=True, lease_expires_at=None
        )
        if not taken:
            raise LeaseExpired("Your time for this item ran out.", field="assignment")
    response = Response.objects.create(
        campaign=campaign,
        audience_id=assignment.audience_id,
        item=item,
        participant_id=assignment.participant_id,
        assignment=assignment,
        payload=clean,
        time_on_task_ms=time_on_task_ms,
        idempotency_key=idempotency_key,
        created_at=now,
        attention_passed=(
            payloads.attention_check_passed(item.expected, clean)
            if item.is_attention_check
            else None
        ),
    )
    assignment.status = Assignment.Status.COMPLETED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    return response


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
            Assignment.objects.select_for_update()
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
            return assignment_next(participant=participant, campaign=assignment.campaign)
        except ServiceError as error:
            return NoItem(error.message, error.code)


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


# Researcher workbench (issue #14) ------------------------------------------------------
# Writes behind the browser pages in `workbench/`; the API may call them too.


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


CAMPAIGN_COPIED_FIELDS = (
    "description",
    "instructions",
    "competence",
    "transience",
    "item_kind",
    "preference_format",
    "rating_min",
    "rating_max",
    "ask_rationale",
    "ask_confidence",
    "per_participant_cap",
    "attention_check_share",
    "lease_seconds",
    "consent_text",
    "consent_version",
)


def campaign_duplicate(*, campaign: Campaign, slug: str, name: str, owner) -> Campaign:
    """A draft with the same settings and target audiences, and no items or responses."""
    fields = {field: getattr(campaign, field) for field in CAMPAIGN_COPIED_FIELDS}
    targets = {target.audience: target.overlap_k for target in campaign.targets.all()}
    item_kind = fields.pop("item_kind")
    return campaign_create(
        slug=slug, name=name, item_kind=item_kind, owners=[owner], targets=targets, **fields
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
    if response.campaign.item_kind != Campaign.ItemKind.DEMONSTRATION:
        raise ServiceError("Only demonstrations are reviewed.", field="response")
    if review not in Response.Review.values:
        raise ServiceError("Choose accepted or rejected.", field="review")
    response.review = review
    response.reviewed_at = timezone.now()
    response.save(update_fields=["review", "reviewed_at"])
    return response


@dataclasses.dataclass
class ImportCheck:
    """What an import of a file would do: its first rows and every bad line found."""

    rows: int
    preview: list[dict]
    errors: list[str]


IMPORT_PREVIEW_ROWS = 5
IMPORT_CHECK_MAX_ERRORS = 50


def items_check(*, campaign: Campaign, stream, file_format: str) -> ImportCheck:
    """Read the whole file as the import would and list each bad row with its line.

    A row that cannot be parsed at all (bad JSON, bad UTF-8) ends the reading there,
    since the readers cannot resume after it; every row before it is still checked.
    """
    if file_format not in imports.READERS:
        raise ServiceError(
            f"Unknown format; use one of {', '.join(imports.FORMATS)}.", field="format"
        )
    limit = settings.IMPORT_MAX_BYTES
    if limit:
        stream = imports._Capped(stream, limit)
    preview: list[dict] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    rows = 0
    reader = imports.READERS[file_format](stream)
    try:
        for number, row in reader:
            rows += 1
            if len(preview) < IMPORT_PREVIEW_ROWS:
                preview.append({"line": number, "row": row})
            try:
                # The import's own row check, one row at a time, so one bad row does
                # not hide the next.
                list(imports._validated(campaign, [(number, row)], seen))
            except imports.ImportFileError as error:
                errors.append(str(error))
            if len(errors) >= IMPORT_CHECK_MAX_ERRORS:
                errors.append(f"Stopped after {IMPORT_CHECK_MAX_ERRORS} errors.")
                break
    except imports.ImportFileError as error:
        errors.append(str(error))
    existing = set(
        campaign.items.filter(external_id__in=list(seen), superseded_at__isnull=True).values_list(
            "external_id", flat=True
        )
    )
    for external_id in sorted(existing, key=lambda name: seen[name]):
        errors.append(
            f"Line {seen[external_id]}: external_id: An item with external_id "
            f"{external_id!r} exists already in this campaign."
        )
    return ImportCheck(rows=rows, preview=preview, errors=errors)
