"""The submission hot path written out in SQL (issue #15, item 4): the same answers as
the ORM steps it replaced, one participant lock, no savepoint, the token read on every
request. Through the API with a real token, on PostgreSQL."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from collection import services
from collection.models import Assignment, Response, Slot
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db


def token_client(participant) -> tuple[APIClient, object]:
    token, key = services.api_token_create(user=participant.user, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, token


def answer(key=None, choice="a") -> dict:
    return {
        "payload": {"choice": choice},
        "time_on_task_ms": 700,
        "idempotency_key": str(key or uuid.uuid4()),
    }


def submit(client, assignment_id: int, body: dict):
    return client.post(f"/api/v1/assignments/{assignment_id}/submit/", body, format="json")


def setup_one(items: int = 3, k: int = 1):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: k}, items=items)
    participant = ready_participant(audience=audience, campaign=campaign)
    return campaign, participant


def test_a_key_reused_for_another_item_is_refused_and_changes_nothing():
    campaign, participant = setup_one()
    client, _ = token_client(participant)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    key = uuid.uuid4()
    first = submit(client, lease["assignment"], answer(key))
    assert first.status_code == 201
    second_lease = first.json()["next"]["assignment"]

    reused = submit(client, second_lease, answer(key, choice="b"))

    assert reused.status_code == 409 and reused.json()["field"] == "idempotency_key"
    assert Response.objects.filter(participant=participant).count() == 1
    held = Assignment.objects.get(pk=second_lease)
    assert held.status == Assignment.Status.LEASED
    slot = Slot.objects.get(pk=held.slot_id)
    assert (slot.holder_id, slot.filled) == (held.pk, False)
    # The lease is still the participant's: a fresh key stores the answer.
    again = submit(client, second_lease, answer())
    assert again.status_code == 201
    assert Response.objects.filter(participant=participant).count() == 2


def test_an_answer_whose_slot_is_no_longer_held_writes_nothing():
    campaign, participant = setup_one(items=1)
    client, _ = token_client(participant)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assignment = Assignment.objects.get(pk=lease["assignment"])
    # The slot went back to the pool (as a reclaimed lease does) while the participant's
    # page still showed the item.
    Slot.objects.filter(pk=assignment.slot_id).update(holder=None, lease_expires_at=None)

    refused = submit(client, assignment.pk, answer())

    assert refused.status_code == 409 and refused.json()["code"] == "lease_expired"
    assert not Response.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.LEASED
    assert not Slot.objects.get(pk=assignment.slot_id).filled


def test_a_revoked_token_is_refused_from_the_next_request_on():
    campaign, participant = setup_one()
    client, token = token_client(participant)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/")
    assert lease.status_code == 200

    services.api_token_revoke(user=participant.user, token_id=token.pk)
    refused = submit(client, lease.json()["assignment"], answer())

    assert refused.status_code == 401
    assert not Response.objects.exists()


def test_a_deactivated_user_is_refused_with_their_token():
    campaign, participant = setup_one()
    client, _ = token_client(participant)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    participant.user.is_active = False
    participant.user.save(update_fields=["is_active"])

    assert submit(client, lease["assignment"], answer()).status_code == 401
    assert not Response.objects.exists()


def test_a_token_of_a_user_with_no_participant_yet_gets_one():
    from tests.factories import UserFactory

    user = UserFactory()
    _, key = services.api_token_create(user=user, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    reply = client.get("/api/v1/me/")
    assert reply.status_code == 200
    assert reply.json()["username"] == user.username


def test_submit_and_next_is_seven_statements_with_one_participant_lock():
    """The token, the participant's lock, the locked assignment, the stored answer (one
    statement), memberships with counts, the next free slot, the lease (one statement); in
    a test the request's transaction is a savepoint (two more)."""
    campaign, participant = setup_one(items=4)
    client, _ = token_client(participant)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    first = submit(client, lease["assignment"], answer()).json()  # token's last_used_at

    with CaptureQueriesContext(connection) as queries:
        reply = submit(client, first["next"]["assignment"], answer())

    assert reply.status_code == 201 and reply.json()["next"]["assignment"]
    statements = [q["sql"] for q in queries.captured_queries]
    locks = [sql for sql in statements if "pg_advisory_xact_lock" in sql]
    savepoints = [sql for sql in statements if sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(locks) == 1, statements
    assert len(savepoints) == 2, statements
    assert len(statements) == 9, statements
