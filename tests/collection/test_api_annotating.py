"""An annotator client over the API: one round trip per judgement, safe retries."""

import uuid

import pytest
from rest_framework.test import APIClient

from collection.models import Response
from tests.factories import AudienceFactory, make_campaign, ready_participant
from tests.helpers import error_fields

pytestmark = pytest.mark.django_db


def test_submit_returns_the_next_item_and_a_retry_stores_once():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3)
    participant = ready_participant(audience=audience, campaign=campaign)
    client = APIClient()
    client.force_authenticate(participant.user)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    body = {
        "payload": {"choice": "b"},
        "time_on_task_ms": 800,
        "idempotency_key": str(uuid.uuid4()),
    }
    first = client.post(f"/api/v1/assignments/{lease['assignment']}/submit/", body, format="json")
    again = client.post(f"/api/v1/assignments/{lease['assignment']}/submit/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["response"] == again.json()["response"]
    assert first.json()["next"]["assignment"] == again.json()["next"]["assignment"]
    assert first.json()["next"]["item"]["id"] != lease["item"]["id"]
    assert Response.objects.filter(participant=participant).count() == 1


def test_bad_payload_names_the_field_and_stores_nothing():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2)
    participant = ready_participant(audience=audience, campaign=campaign)
    client = APIClient()
    client.force_authenticate(participant.user)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    answer = client.post(
        f"/api/v1/assignments/{lease['assignment']}/submit/",
        {"payload": {"choice": "z"}, "time_on_task_ms": 800, "idempotency_key": str(uuid.uuid4())},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["field"] == "choice"
    assert not Response.objects.exists()
    missing = client.post(
        f"/api/v1/assignments/{lease['assignment']}/submit/",
        {"payload": {"choice": "a"}},
        format="json",
    )
    assert missing.status_code == 400 and "idempotency_key" in error_fields(missing.json())


def test_out_of_range_numbers_are_refused_not_crashed_on():
    # Found by schemathesis: an integer beyond the column's range was a server error.
    from django.contrib.auth.models import Group

    from collection.permissions import RESEARCHERS_GROUP
    from tests.factories import UserFactory

    researcher = UserFactory()
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    client = APIClient()
    client.force_authenticate(researcher)
    huge = 10**12
    audience = client.post(
        "/api/v1/audiences/",
        {"slug": "g", "name": "G", "kind": "group", "max_members": huge},
        format="json",
    )
    assert audience.status_code == 400 and error_fields(audience.json()) == {"max_members"}
    campaign = client.post(
        "/api/v1/campaigns/",
        {
            "slug": "c",
            "name": "C",
            "item_kind": "qa",
            "per_participant_cap": huge,
            "lease_seconds": huge,
            "rating_min": -huge,
        },
        format="json",
    )
    assert campaign.status_code == 400
    assert {"per_participant_cap", "lease_seconds", "rating_min"} <= error_fields(campaign.json())
