"""Joining is all or nothing: a join refused for its attributes keeps no seat and does not
use up the invitation, through the API and the web form alike."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from collection import services
from collection.models import Audience, Invitation, Membership
from tests.factories import AGE_SCHEMA, AudienceFactory, UserFactory


def _one_seat_group(max_uses: int) -> tuple[Audience, Invitation]:
    group = AudienceFactory(kind=Audience.Kind.GROUP, max_members=1, attribute_schema=AGE_SCHEMA)
    return group, services.invitation_create(audience=group, max_uses=max_uses)


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("max_uses", [1, 2])
def test_a_join_refused_for_its_attributes_keeps_no_seat_and_leaves_the_invitation_unused(
    max_uses,
):
    group, invitation = _one_seat_group(max_uses)
    first, second = UserFactory(), UserFactory()
    url = f"/api/v1/audiences/{group.slug}/join/"

    refused = _api(first).post(
        url,
        {"invitation": invitation.token, "attributes": {"age_band": "ninety"}},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "attributes.age_band"
    assert not Membership.objects.filter(audience=group).exists()
    invitation.refresh_from_db()
    assert invitation.uses == 0

    joined = _api(second).post(
        url, {"invitation": invitation.token, "attributes": {"age_band": "40+"}}, format="json"
    )
    assert joined.status_code == 201, joined.json()
    assert joined.json()["attributes"] == {"age_band": "40+"}
    assert joined.json()["profile_complete"] is True
    member = Membership.objects.get(audience=group)
    assert member.participant.user == second and member.attributes == {"age_band": "40+"}
    invitation.refresh_from_db()
    assert invitation.uses == 1


@pytest.mark.django_db
def test_an_open_audience_join_refused_for_its_attributes_saves_no_membership():
    audience = AudienceFactory(attribute_schema=AGE_SCHEMA)
    user = UserFactory()
    refused = _api(user).post(
        f"/api/v1/audiences/{audience.slug}/join/",
        {"attributes": {"age_band": "18-39", "shoe_size": "44"}},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "attributes.shoe_size"
    assert not Membership.objects.filter(audience=audience).exists()


@pytest.mark.django_db
def test_the_invitation_page_asks_the_profile_and_a_refused_join_saves_nothing(client):
    group, invitation = _one_seat_group(max_uses=2)
    url = reverse("invitation_join", args=[invitation.token])
    client.force_login(UserFactory())

    page = client.get(url).content.decode()
    assert 'name="age_band"' in page and "Join " in page

    refused = client.post(url, {"age_band": "ninety"})
    assert refused.status_code == 400
    assert "You have not joined yet" in refused.content.decode()
    assert not Membership.objects.filter(audience=group).exists()
    invitation.refresh_from_db()
    assert invitation.uses == 0

    second = UserFactory()
    client.force_login(second)
    joined = client.post(url, {"age_band": "18-39"})
    assert joined.status_code == 302 and joined["Location"] == reverse("home")
    member = Membership.objects.get(audience=group)
    assert member.participant.user == second and member.attributes == {"age_band": "18-39"}
    invitation.refresh_from_db()
    assert invitation.uses == 1


@pytest.mark.django_db(transaction=True)
def test_people_racing_for_the_last_seats_never_exceed_the_limit_and_refused_ones_take_none():
    seats = 3
    group = AudienceFactory(
        kind=Audience.Kind.GROUP, max_members=seats, attribute_schema=AGE_SCHEMA
    )
    invitation = services.invitation_create(audience=group, max_uses=20)
    # Four of twelve give an attribute value the audience does not allow.
    people = [(UserFactory(), "ninety" if n % 3 == 0 else "40+") for n in range(12)]
    statuses: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(people))

    def join(user, age_band: str) -> None:
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(user)
        try:
            barrier.wait()
            answer = client.post(
                f"/api/v1/audiences/{group.slug}/join/",
                {"invitation": invitation.token, "attributes": {"age_band": age_band}},
                format="json",
            )
            statuses.append((age_band, answer.status_code))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=person) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    assert Counter(statuses) == {("ninety", 400): 4, ("40+", 201): seats, ("40+", 409): 5}
    members = Membership.objects.filter(audience=group)
    assert members.count() == seats
    assert all(member.attributes == {"age_band": "40+"} for member in members)
    invitation.refresh_from_db()
    assert invitation.uses == seats
