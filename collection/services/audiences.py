"""Participants, audiences, invitations, memberships and consent."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from collection import payloads, selectors
from collection.models import Audience, Campaign, Consent, Invitation, Membership, Participant
from collection.services.errors import (
    Conflict,
    NotEligible,
    NotFound,
    ServiceError,
    Withdrawn,
    payload_error,
)
from collection.services.locks import _lock_participant


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
    joined_via: str = "",
) -> Membership:
    """Add a participant to an audience, by open sign-up or by invitation, with their
    attributes if given (an existing member's are replaced). ``joined_via`` records an
    entry path the membership cannot show by itself (`JoinedVia.PANEL`); releases derive
    the others.

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
            joined_via=joined_via,
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
