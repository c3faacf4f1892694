"""A demonstration sent back as the untouched draft is asked about, not stored silently:
a 400 naming the text and the confirm flag, on the web and in the API."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from collection import services
from collection.models import Campaign, Response
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    audience = AudienceFactory()
    campaign = make_campaign(
        audiences={audience: 1}, items=2, item_kind=Campaign.ItemKind.DEMONSTRATION
    )
    return campaign, ready_participant(audience=audience, campaign=campaign)


def test_the_api_refuses_the_untouched_draft_until_confirmed(demo):
    campaign, participant = demo
    api = APIClient()
    api.force_authenticate(participant.user)
    lease = api.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    draft = lease["item"]["draft"]
    url = f"/api/v1/assignments/{lease['assignment']}/submit/"

    def send(payload):
        body = {"payload": payload, "time_on_task_ms": 900, "idempotency_key": str(uuid.uuid4())}
        return api.post(url, body, format="json")

    refused = send({"text": draft + "\n"})
    assert refused.status_code == 400
    assert refused.json()["field"] == "text"
    assert "confirm_unchanged: true" in refused.json()["detail"]
    assert not Response.objects.exists()
    assert send({"text": draft, "confirm_unchanged": "yes"}).json()["field"] == "confirm_unchanged"
    accepted = send({"text": draft, "confirm_unchanged": True})
    assert accepted.status_code == 201, accepted.content
    assert Response.objects.get().payload == {"text": draft}


def test_an_edited_draft_needs_no_confirmation(demo):
    campaign, participant = demo
    lease = services.assignment_next(participant=participant, campaign=campaign)
    services.response_submit(
        participant=participant,
        assignment_id=lease.pk,
        payload={"text": lease.item.payload["draft"] + " And more."},
        time_on_task_ms=500,
        idempotency_key=uuid.uuid4(),
    )
    assert Response.objects.count() == 1


def test_the_web_form_asks_to_confirm_the_unchanged_draft(client, demo):
    campaign, participant = demo
    client.force_login(participant.user)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "Yes, submit the draft unchanged" not in page
    lease = participant.assignments.get()
    draft = lease.item.payload["draft"]
    data = {
        "assignment": lease.pk,
        "idempotency_key": str(uuid.uuid4()),
        "time_on_task_ms": "2500",
        "text": draft,
    }
    refused = client.post(reverse("submit", args=[campaign.slug]), data)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "This is the draft exactly as it was given" in html
    assert "Yes, submit the draft unchanged" in html
    assert not Response.objects.exists()

    confirmed = client.post(
        reverse("submit", args=[campaign.slug]), data | {"confirm_unchanged": "on"}
    )
    assert confirmed.status_code == 302
    assert Response.objects.get().payload == {"text": draft}
