"""The assignment rules (docs/architecture.md, "Invariants"), each as a test."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from collection import selectors, services
from collection.models import Assignment, Response, Slot
from tests.factories import (
    AudienceFactory,
    make_campaign,
    public_age_audience,
    ready_participant,
)

pytestmark = pytest.mark.django_db


def answer(participant, assignment, choice="a", key=None, now=None):
    import uuid

    return services.response_submit(
        participant=participant,
        assignment_id=assignment.pk,
        payload={"choice": choice},
        time_on_task_ms=1200,
        idempotency_key=key or uuid.uuid4(),
        now=now,
    )


def test_only_members_of_targeted_audiences_are_served():
    targeted, other = AudienceFactory(), AudienceFactory()
    campaign = make_campaign(audiences={targeted: 1}, items=3)
    outsider = ready_participant(audience=other, campaign=campaign)
    with pytest.raises(services.NotEligible):
        services.assignment_next(participant=outsider, campaign=campaign)


def test_never_the_same_item_twice_even_after_a_skip():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 3}, items=3)
    participant = ready_participant(audience=audience, campaign=campaign)
    seen = []
    for turn in range(3):
        assignment = services.assignment_next(participant=participant, campaign=campaign)
        seen.append(assignment.item_id)
        if turn == 0:
            services.assignment_skip(participant=participant, assignment_id=assignment.pk)
        else:
            answer(participant, assignment)
    assert len(set(seen)) == 3
    done = services.assignment_next(participant=participant, campaign=campaign)
    assert isinstance(done, services.NoItem) and done.code == "exhausted"


def test_completed_plus_live_leases_never_exceed_k_and_expired_leases_return():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=1)
    first, second, third = (
        ready_participant(audience=audience, campaign=campaign) for _ in range(3)
    )
    now = timezone.now()
    lease1 = services.assignment_next(participant=first, campaign=campaign, now=now)
    lease2 = services.assignment_next(participant=second, campaign=campaign, now=now)
    assert lease1.item_id == lease2.item_id
    assert isinstance(
        services.assignment_next(participant=third, campaign=campaign, now=now), services.NoItem
    )
    answer(second, lease2, now=now + timedelta(seconds=5))
    later = now + timedelta(seconds=campaign.lease_seconds + 1)
    lease3 = services.assignment_next(participant=third, campaign=campaign, now=later)
    assert lease3.item_id == lease1.item_id
    with pytest.raises(services.LeaseExpired):
        answer(first, lease1, now=later)
    answer(third, lease3, now=later)
    assert Response.objects.filter(item_id=lease1.item_id).count() == 2


def test_breadth_first_fill():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 3}, items=4)
    people = [ready_participant(audience=audience, campaign=campaign) for _ in range(4)]
    items = []
    for participant in people:
        assignment = services.assignment_next(participant=participant, campaign=campaign)
        answer(participant, assignment)
        items.append(assignment.item_id)
    # Four people, four items: each item got its first response before any got a second.
    assert len(set(items)) == 4


def test_per_participant_cap():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=5, per_participant_cap=2)
    participant = ready_participant(audience=audience, campaign=campaign)
    for _ in range(2):
        answer(participant, services.assignment_next(participant=participant, campaign=campaign))
    result = services.assignment_next(participant=participant, campaign=campaign)
    assert isinstance(result, services.NoItem) and result.code == "cap_reached"


def test_retried_submission_with_same_key_stores_one_response():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = ready_participant(audience=audience, campaign=campaign)
    assignment = services.assignment_next(participant=participant, campaign=campaign)
    first = answer(participant, assignment, key="5b1f6c8e-0f4a-4d5e-9a51-6c7f1b2a3d4e")
    again = answer(participant, assignment, key="5b1f6c8e-0f4a-4d5e-9a51-6c7f1b2a3d4e")
    assert first.created and not again.created
    assert first.response.pk == again.response.pk
    assert Response.objects.filter(participant=participant).count() == 1


def _held_by_band(campaign) -> Counter:
    return Counter(
        Assignment.objects.filter(campaign=campaign)
        .exclude(status=Assignment.Status.SKIPPED)
        .values_list("participant__memberships__attributes__age_band", flat=True)
    )


def test_a_group_holds_at_most_its_target_share_from_the_first_slot():
    """Quotas hold from the first slot (issue #15): the early arrivals of an
    over-represented group cannot lock in a surplus before slots get scarce."""
    audience = public_age_audience()  # 50 % / 50 %
    campaign = make_campaign(audiences={audience: 2}, items=5)  # 10 slots: 5 per band
    young = [
        ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "18-39"})
        for _ in range(3)
    ]
    served = 0
    for participant in young:
        while isinstance(
            result := services.assignment_next(participant=participant, campaign=campaign),
            Assignment,
        ):
            answer(participant, result)
            served += 1
    assert served == 5  # of 10 slots, with 15 asked for
    refused = services.assignment_next(participant=young[0], campaign=campaign)
    assert isinstance(refused, services.NoItem) and refused.code == "stratum_full"
    older = ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "40+"})
    assert isinstance(services.assignment_next(participant=older, campaign=campaign), Assignment)


def test_a_live_lease_counts_against_the_quota():
    audience = public_age_audience()
    campaign = make_campaign(audiences={audience: 1}, items=2)  # 2 slots: 1 per band
    first, second = (
        ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "18-39"})
        for _ in range(2)
    )
    assert isinstance(services.assignment_next(participant=first, campaign=campaign), Assignment)
    refused = services.assignment_next(participant=second, campaign=campaign)
    assert isinstance(refused, services.NoItem) and refused.code == "stratum_full"


def test_released_quotas_let_the_groups_that_came_fill_the_rest():
    audience = public_age_audience()
    campaign = make_campaign(audiences={audience: 1}, items=4)
    young = [
        ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "18-39"})
        for _ in range(4)
    ]
    for participant in young[:2]:
        answer(participant, services.assignment_next(participant=participant, campaign=campaign))
    held = services.assignment_next(participant=young[2], campaign=campaign)
    assert isinstance(held, services.NoItem) and held.code == "stratum_full"
    services.campaign_release_quotas(campaign=campaign, audience=audience)
    for participant in young[2:]:
        answer(participant, services.assignment_next(participant=participant, campaign=campaign))
    assert _held_by_band(campaign) == {"18-39": 4}


def test_a_full_campaign_says_there_is_no_more_work_not_that_places_are_kept():
    audience = public_age_audience()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    for band in ("18-39", "40+"):
        participant = ready_participant(
            audience=audience, campaign=campaign, attributes={"age_band": band}
        )
        answer(participant, services.assignment_next(participant=participant, campaign=campaign))
    late = ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "40+"})
    result = services.assignment_next(participant=late, campaign=campaign)
    assert isinstance(result, services.NoItem) and result.code == "exhausted"


def test_attention_checks_are_mixed_in_at_the_campaign_share():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=20, attention_check_share=0.25)
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": "Pick B",
                "payload": {"candidates": ["wrong", "right"]},
                "expected": {"choice": "b"},
                "external_id": f"check{n}",
            }
            for n in range(5)
        ],
    )
    participant = ready_participant(audience=audience, campaign=campaign)
    served = []
    for _ in range(8):
        assignment = services.assignment_next(participant=participant, campaign=campaign)
        served.append(assignment.item.is_attention_check)
        answer(participant, assignment, choice="b")
    assert sum(served) == 2
    checks = Response.objects.filter(participant=participant, item__is_attention_check=True)
    assert all(response.attention_passed for response in checks)


def test_next_item_query_uses_the_index_without_sorting():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=50)
    participant = ready_participant(audience=audience, campaign=campaign)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN " + selectors.NEXT_FREE_SLOT_SQL,
            {
                "campaign": campaign.pk,
                "audience": audience.pk,
                "now": timezone.now(),
                "participant": participant.pk,
            },
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "slot_open_in_order" in plan
    assert "Sort" not in plan


def test_withdrawal_frees_slots_and_marks_responses():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = ready_participant(audience=audience, campaign=campaign)
    answer(participant, services.assignment_next(participant=participant, campaign=campaign))
    withdrawal, _ = services.participant_withdraw(participant=participant, campaign=campaign)
    assert withdrawal.responses_withdrawn == 1
    assert Response.objects.get(participant=participant).withdrawn_at is not None
    assert Slot.objects.filter(campaign=campaign, filled=True).count() == 0
    with pytest.raises(services.NotEligible):
        services.assignment_next(participant=participant, campaign=campaign)


def test_memberships_for_a_campaign_carry_consent_withdrawal_and_their_audience(
    django_assert_num_queries,
):
    # The engine reads these with SQL written out; each flag is checked against the
    # situation it stands for.
    targeted, second, elsewhere = AudienceFactory(), AudienceFactory(), AudienceFactory()
    campaign = make_campaign(audiences={targeted: 1, second: 1}, items=1, consent_version="2")
    other = make_campaign(audiences={elsewhere: 1}, items=1)
    person = ready_participant(audience=targeted, campaign=campaign, attributes={})
    services.membership_join(participant=person, audience=second)
    services.membership_join(participant=person, audience=elsewhere)
    with django_assert_num_queries(1):  # the audience comes with it
        found = selectors.memberships_for_campaign(participant=person, campaign=campaign)
        slugs = [m.audience.slug for m in found]
    assert [m.audience_id for m in found] == sorted([targeted.pk, second.pk])
    assert sorted(slugs) == sorted([targeted.slug, second.slug])
    assert all(m.consented and not m.withdrawn for m in found)
    assert found[0].attributes == {} and found[0].participant_id == person.pk
    # A new consent text: the old consent no longer counts.
    campaign.consent_version = "3"
    campaign.save()
    assert not any(
        m.consented
        for m in selectors.memberships_for_campaign(participant=person, campaign=campaign)
    )
    # Withdrawing from another campaign leaves this one; from the platform, all of them.
    services.participant_withdraw(participant=person, campaign=other)
    assert not any(
        m.withdrawn
        for m in selectors.memberships_for_campaign(participant=person, campaign=campaign)
    )
    services.participant_withdraw(participant=person)
    assert all(
        m.withdrawn
        for m in selectors.memberships_for_campaign(participant=person, campaign=campaign)
    )
