"""No existence oracle: an audience or campaign a user may not see answers exactly as a
made-up slug does (same status, same page or body, no name), on the pages and in the
API; an invitation still lets its holder in."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from collection import services
from collection.models import Audience, Membership
from tests.factories import AudienceFactory, MembershipFactory, make_campaign

pytestmark = pytest.mark.django_db
MADE_UP = "no-such-thing"

WEB_DOORS = [
    ("post", "/audiences/{}/join/"),
    ("get", "/audiences/{}/profile/"),
    ("get", "/campaigns/{}/consent/"),
    ("get", "/campaigns/{}/annotate/"),
    ("get", "/campaigns/{}/withdraw/"),
]
API_DOORS = [
    ("post", "/api/v1/audiences/{}/join/", {}),
    ("post", "/api/v1/audiences/{}/join/", {"invitation": "not-a-real-token"}),
    ("get", "/api/v1/audiences/{}/", None),
    ("put", "/api/v1/audiences/{}/profile/", {"attributes": {}}),
    ("get", "/api/v1/campaigns/{}/", None),
    ("post", "/api/v1/campaigns/{}/consent/", {}),
    ("post", "/api/v1/campaigns/{}/next/", {}),
]


@pytest.fixture
def hidden():
    """A dyad and an invite-only group the annotator is not in, each with a campaign."""
    dyad = AudienceFactory(slug="alex-assistant", name="Alex's assistant", kind="dyadic")
    group = AudienceFactory(slug="night-nurses", name="Night nurses", kind="group")
    MembershipFactory(audience=dyad)
    make_campaign(audiences={dyad: 1}, items=1, slug="alex-prefs", name="Alex's preferences")
    make_campaign(audiences={group: 2}, items=1, slug="nurse-prefs", name="Nurse preferences")
    annotator = MembershipFactory(audience=AudienceFactory(slug="everyone")).participant.user
    return {"annotator": annotator, "audiences": [dyad, group]}


def page_text(response) -> str:
    html = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


@pytest.mark.parametrize("slug", ["alex-assistant", "night-nurses", "alex-prefs", "nurse-prefs"])
@pytest.mark.parametrize(("method", "url"), WEB_DOORS)
def test_a_page_answers_for_a_hidden_slug_as_for_a_made_up_one(client, hidden, slug, method, url):
    client.force_login(hidden["annotator"])
    real = getattr(client, method)(url.format(slug))
    fake = getattr(client, method)(url.format(MADE_UP))
    assert real.status_code == fake.status_code == 404
    assert [t.name for t in real.templates] == [t.name for t in fake.templates]
    assert page_text(real) == page_text(fake)
    for name in ("Alex", "Night nurses", "invitation"):
        assert name not in page_text(real)
    assert not Membership.objects.filter(
        participant__user=hidden["annotator"], audience__in=hidden["audiences"]
    ).exists()


@pytest.mark.parametrize("slug", ["alex-assistant", "night-nurses", "alex-prefs", "nurse-prefs"])
@pytest.mark.parametrize(("method", "url", "body"), API_DOORS)
def test_the_api_answers_for_a_hidden_slug_as_for_a_made_up_one(hidden, slug, method, url, body):
    api = APIClient()
    api.force_authenticate(hidden["annotator"])
    real = getattr(api, method)(url.format(slug), body, format="json")
    fake = getattr(api, method)(url.format(MADE_UP), body, format="json")
    assert real.status_code == fake.status_code == 404
    assert real.content == fake.content
    assert b"Alex" not in real.content and b"Night nurses" not in real.content
    assert not Membership.objects.filter(
        participant__user=hidden["annotator"], audience__in=hidden["audiences"]
    ).exists()


def test_an_invitation_still_lets_its_holder_into_a_hidden_group(client, hidden):
    group = Audience.objects.get(slug="night-nurses")
    invitation = services.invitation_create(audience=group, max_uses=2)
    client.force_login(hidden["annotator"])
    assert client.post(f"/join/{invitation.token}/").status_code == 302
    api = APIClient()
    api.force_authenticate(MembershipFactory().participant.user)
    joined = api.post(
        "/api/v1/audiences/night-nurses/join/", {"invitation": invitation.token}, format="json"
    )
    assert joined.status_code == 201
    assert Membership.objects.filter(audience=group).count() == 2
