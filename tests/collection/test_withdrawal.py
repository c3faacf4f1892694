"""Withdrawal is once per scope, and someone who left the platform cannot come back in
through a join, a consent or an item, by the API or the web pages."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from collection import services
from collection.models import Assignment, Audience, Consent, Membership, Slot, Withdrawal
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _answer(client: APIClient, assignment_id: int):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/submit/",
        {"payload": {"choice": "a"}, "time_on_task_ms": 800, "idempotency_key": str(uuid.uuid4())},
        format="json",
    )


@pytest.fixture
def withdrawn_person():
    """A participant who answered one item of an open campaign, then left the platform."""
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=3, consent_version="2")
    person = ready_participant(audience=audience, campaign=campaign)
    client = _api(person.user)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert _answer(client, lease["assignment"]).status_code == 201
    assert client.post("/api/v1/withdrawals/", {}, format="json").status_code == 201
    return person, campaign


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["platform", "campaign"])
def test_withdrawing_again_changes_nothing_and_answers_the_same(scope):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=3)
    person = ready_participant(audience=audience, campaign=campaign)
    client = _api(person.user)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert _answer(client, lease["assignment"]).status_code == 201
    body = {} if scope == "platform" else {"campaign": campaign.slug}

    first = client.post("/api/v1/withdrawals/", body, format="json")
    again = client.post("/api/v1/withdrawals/", body, format="json")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["responses_withdrawn"] == 1
    assert Withdrawal.objects.filter(participant=person).count() == 1


@pytest.mark.django_db
def test_leaving_a_campaign_after_the_platform_returns_the_platform_withdrawal(withdrawn_person):
    person, campaign = withdrawn_person
    answer = _api(person.user).post(
        "/api/v1/withdrawals/", {"campaign": campaign.slug}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json()["campaign"] is None and answer.json()["responses_withdrawn"] == 1
    assert Withdrawal.objects.filter(participant=person).count() == 1


@pytest.mark.django_db
def test_the_database_keeps_one_platform_withdrawal_per_participant(withdrawn_person):
    person, _ = withdrawn_person
    with pytest.raises(IntegrityError):
        Withdrawal.objects.create(participant=person, campaign=None)


@pytest.mark.django_db
def test_after_leaving_the_platform_the_api_refuses_joining_consent_and_items(withdrawn_person):
    person, campaign = withdrawn_person
    client = _api(person.user)
    other = AudienceFactory()
    group = AudienceFactory(kind=Audience.Kind.GROUP)
    invitation = services.invitation_create(audience=group)

    for url, body in [
        (f"/api/v1/audiences/{other.slug}/join/", {}),
        (f"/api/v1/audiences/{group.slug}/join/", {"invitation": invitation.token}),
    ]:
        refused = client.post(url, body, format="json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "withdrawn"
        assert "withdrawn from the platform" in refused.json()["detail"]
    assert not Membership.objects.filter(participant=person, audience__in=[other, group]).exists()
    invitation.refresh_from_db()
    assert invitation.uses == 0

    campaign.consent_version = "3"  # a new text to agree to
    campaign.save()
    refused = client.post(f"/api/v1/campaigns/{campaign.slug}/consent/")
    assert refused.status_code == 403 and refused.json()["code"] == "withdrawn"
    assert not Consent.objects.filter(participant=person, version="3").exists()

    served = client.post(f"/api/v1/campaigns/{campaign.slug}/next/")
    assert served.status_code == 403
    assert not Assignment.objects.filter(
        participant=person, status=Assignment.Status.LEASED
    ).exists()


@pytest.mark.django_db
def test_after_leaving_the_platform_the_pages_say_so_instead_of_offering_a_form(
    client, withdrawn_person
):
    person, campaign = withdrawn_person
    client.force_login(person.user)
    other = AudienceFactory(name="Night owls")
    invitation = services.invitation_create(audience=AudienceFactory(kind=Audience.Kind.GROUP))

    joined = client.post(reverse("audience_join", args=[other.slug]))
    assert joined.status_code == 403
    assert "withdrawn from the platform" in joined.content.decode()
    assert not Membership.objects.filter(participant=person, audience=other).exists()

    invited = client.get(reverse("invitation_join", args=[invitation.token]))
    assert invited.status_code == 403
    page = invited.content.decode()
    assert "withdrawn from the platform" in page and "Join " not in page
    assert client.post(reverse("invitation_join", args=[invitation.token])).status_code == 403
    invitation.refresh_from_db()
    assert invitation.uses == 0

    campaign.consent_version = "3"
    campaign.save()
    consent = client.get(reverse("consent", args=[campaign.slug]))
    assert consent.status_code == 403
    assert "withdrawn from the platform" in consent.content.decode()
    assert 'name="agree"' not in consent.content.decode()
    assert client.post(reverse("consent", args=[campaign.slug]), {"agree": "on"}).status_code == 403
    assert not Consent.objects.filter(participant=person, version="3").exists()

    annotate = client.get(reverse("annotate", args=[campaign.slug]))
    assert annotate.status_code == 403
    assert not Assignment.objects.filter(
        participant=person, status=Assignment.Status.LEASED
    ).exists()


@pytest.mark.django_db
def test_withdrawing_leaves_alone_a_lease_someone_else_took_over_after_ours_expired():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1)
    leaver = ready_participant(audience=audience, campaign=campaign)
    stayer = ready_participant(audience=audience, campaign=campaign)
    leaver_api, stayer_api = _api(leaver.user), _api(stayer.user)
    mine = leaver_api.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()["assignment"]
    # The leaver walks away and the lease runs out.
    past = timezone.now() - timedelta(seconds=1)
    Assignment.objects.filter(pk=mine).update(expires_at=past)
    Slot.objects.filter(holder_id=mine).update(lease_expires_at=past)
    theirs = stayer_api.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert theirs["assignment"] is not None

    assert leaver_api.post("/api/v1/withdrawals/", {}, format="json").status_code == 201

    assert _answer(stayer_api, theirs["assignment"]).status_code == 201
    assert Slot.objects.get(campaign=campaign).filled


@pytest.mark.django_db
def test_a_new_account_can_still_join_after_another_person_left_the_platform(withdrawn_person):
    other = AudienceFactory()
    joined = _api(UserFactory()).post(f"/api/v1/audiences/{other.slug}/join/", {}, format="json")
    assert joined.status_code == 201
