"""An annotator changes their last answer while the item is still theirs (within its
lease), through the API and the web form; nothing else can be changed, and the engine's
capacity does not move."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from collection import services
from collection.models import Assignment, Response, Slot
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3)
    return campaign, ready_participant(audience=audience, campaign=campaign)


def answer(participant, campaign, choice="a") -> Response:
    lease = services.assignment_next(participant=participant, campaign=campaign)
    return services.response_submit(
        participant=participant,
        assignment_id=lease.pk,
        payload={"choice": choice},
        time_on_task_ms=700,
        idempotency_key=uuid.uuid4(),
    ).response


def test_the_api_changes_the_last_answer_and_only_while_it_is_still_theirs(world):
    campaign, participant = world
    first = answer(participant, campaign, "a")
    last = answer(participant, campaign, "a")
    filled = Slot.objects.filter(filled=True).count()
    api = APIClient()
    api.force_authenticate(participant.user)

    changed = api.patch(
        f"/api/v1/responses/{last.pk}/", {"payload": {"choice": "tie"}}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["payload"] == {"choice": "tie"}
    last.refresh_from_db()
    assert last.payload == {"choice": "tie"}
    assert Slot.objects.filter(filled=True).count() == filled  # no capacity moved
    assert Response.objects.filter(participant=participant).count() == 2

    bad = api.patch(f"/api/v1/responses/{last.pk}/", {"payload": {"choice": "z"}}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "choice"
    earlier = api.patch(
        f"/api/v1/responses/{first.pk}/", {"payload": {"choice": "b"}}, format="json"
    )
    assert earlier.status_code == 409 and "last answer" in earlier.json()["detail"]

    Assignment.objects.filter(pk=last.assignment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    late = api.patch(f"/api/v1/responses/{last.pk}/", {"payload": {"choice": "b"}}, format="json")
    assert late.status_code == 409 and "run out" in late.json()["detail"]
    last.refresh_from_db()
    assert last.payload == {"choice": "tie"}

    stranger = ready_participant(audience=campaign.audiences.get(), campaign=campaign)
    api.force_authenticate(stranger.user)
    theirs = api.patch(
        f"/api/v1/responses/{first.pk}/", {"payload": {"choice": "b"}}, format="json"
    )
    assert theirs.status_code == 404


def test_the_web_offers_to_change_the_last_answer_and_saves_the_change(client, world):
    campaign, participant = world
    client.force_login(participant.user)
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "Change your last answer" not in page  # nothing answered yet
    last = answer(participant, campaign, "a")
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "Change your last answer" in page

    edit = client.get(reverse("edit_last", args=[campaign.slug])).content.decode()
    assert "Changing your last answer." in edit and "Skip this item" not in edit
    assert last.item.prompt in edit
    saved = client.post(
        reverse("edit_last", args=[campaign.slug]),
        {
            "assignment": last.assignment_id,
            "idempotency_key": str(uuid.uuid4()),
            "time_on_task_ms": "900",
            "choice": "b",
        },
    )
    assert saved.status_code == 302
    last.refresh_from_db()
    assert last.payload == {"choice": "b"}

    Assignment.objects.filter(pk=last.assignment_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(reverse("edit_last", args=[campaign.slug])).status_code == 404
    page = client.get(reverse("annotate", args=[campaign.slug])).content.decode()
    assert "Change your last answer" not in page
