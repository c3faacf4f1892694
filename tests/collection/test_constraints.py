"""Invariants that live in the database hold even when the services are bypassed."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from collection.models import (
    Assignment,
    Audience,
    CampaignAudience,
    Membership,
    Response,
    Slot,
)
from tests.factories import (
    AudienceFactory,
    CampaignFactory,
    MembershipFactory,
    ParticipantFactory,
    make_campaign,
)

pytestmark = pytest.mark.django_db


def refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_one_response_per_participant_and_item():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=1)
    participant = ParticipantFactory()
    item = campaign.items.get()
    fields = dict(
        campaign=campaign,
        audience=audience,
        item=item,
        participant=participant,
        payload={"choice": "a"},
        time_on_task_ms=10,
    )
    Response.objects.create(**fields)
    refused(lambda: Response.objects.create(**fields))


def test_idempotency_key_unique_per_participant_but_not_across_participants():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 3}, items=2)
    first, second = campaign.items.all()
    key = uuid.uuid4()
    someone, someone_else = ParticipantFactory(), ParticipantFactory()
    common = dict(
        campaign=campaign,
        audience=audience,
        payload={"choice": "a"},
        time_on_task_ms=10,
        idempotency_key=key,
    )
    Response.objects.create(item=first, participant=someone, **common)
    Response.objects.create(item=first, participant=someone_else, **common)
    refused(lambda: Response.objects.create(item=second, participant=someone, **common))


def test_a_dyad_has_exactly_one_member():
    dyad = AudienceFactory(kind=Audience.Kind.DYADIC)
    MembershipFactory(audience=dyad)
    refused(lambda: MembershipFactory(audience=dyad))
    refused(lambda: Audience.objects.filter(pk=dyad.pk).update(max_members=2))


def test_a_participant_joins_an_audience_once():
    membership = MembershipFactory()
    refused(
        lambda: Membership.objects.create(
            participant=membership.participant,
            audience=membership.audience,
            audience_kind=membership.audience.kind,
        )
    )


def test_overlap_k_is_at_least_one():
    campaign, audience = CampaignFactory(), AudienceFactory()
    refused(
        lambda: CampaignAudience.objects.create(campaign=campaign, audience=audience, overlap_k=0)
    )


def test_an_item_is_assigned_to_a_participant_once():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 3}, items=1)
    participant = ParticipantFactory()
    fields = dict(
        campaign=campaign,
        audience=audience,
        item=campaign.items.get(),
        participant=participant,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    Assignment.objects.create(**fields)
    refused(lambda: Assignment.objects.create(**fields))


def test_campaign_rules_are_checked_by_the_database():
    refused(lambda: CampaignFactory(attention_check_share=0.9))
    refused(lambda: CampaignFactory(preference_format="rating"))
    refused(lambda: CampaignFactory(rating_min=5, rating_max=1))


def test_attention_check_items_need_an_expected_answer():
    campaign = CampaignFactory()
    refused(lambda: campaign.items.create(prompt="check", payload={}, is_attention_check=True))


def test_slots_go_with_their_audience_campaign_and_item():
    # Slots carry no database foreign keys (collection.models.Slot says why); deleting
    # through Django still deletes them, and so does SQL that deletes items.
    kept, dropped = AudienceFactory(), AudienceFactory()
    campaign = make_campaign(audiences={kept: 2, dropped: 3}, items=4)
    other = make_campaign(audiences={kept: 1}, items=3)
    assert Slot.objects.filter(campaign=campaign).count() == 4 * (2 + 3)
    CampaignAudience.objects.filter(audience=dropped).delete()  # a target protects it
    dropped.delete()
    assert not Slot.objects.filter(audience_id=dropped.pk).exists()
    assert Slot.objects.filter(campaign=campaign).count() == 4 * 2
    campaign.items.first().delete()
    assert Slot.objects.filter(campaign=campaign).count() == 3 * 2
    campaign.delete()
    assert not Slot.objects.filter(campaign_id=campaign.pk).exists()
    assert Slot.objects.filter(campaign=other).count() == 3
    first, *rest = other.items.order_by("id")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM collection_item WHERE id = %s", [first.pk])
    assert sorted(Slot.objects.filter(campaign=other).values_list("item_id", flat=True)) == [
        item.pk for item in rest
    ]
