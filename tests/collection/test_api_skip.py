"""Skipping over the API: the reply carries the next item, stored in one commit, as a
submission's does."""

import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from collection.models import Assignment
from tests.factories import AudienceFactory, make_campaign, ready_participant


@pytest.fixture
def commits(monkeypatch):
    """Counts the commits of the test's database connection (each one still happens)."""
    made = []
    commit = connection.commit

    def counted():
        made.append(1)
        commit()

    monkeypatch.setattr(connection, "commit", counted)
    return made


def annotator(items: int = 3):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=items)
    participant = ready_participant(audience=audience, campaign=campaign)
    client = APIClient()
    client.force_authenticate(participant.user)
    lease = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    return client, campaign, lease


@pytest.mark.django_db(transaction=True)
def test_a_skip_returns_the_next_item_in_one_commit(commits):
    client, _, lease = annotator()
    commits.clear()
    skipped = client.post(f"/api/v1/assignments/{lease['assignment']}/skip/", {}, format="json")
    assert skipped.status_code == 200
    assert skipped.json()["item"]["id"] != lease["item"]["id"]
    assert Assignment.objects.get(pk=lease["assignment"]).status == Assignment.Status.SKIPPED
    assert len(commits) == 1


@pytest.mark.django_db(transaction=True)
def test_a_skip_commits_as_often_as_a_submission(commits):
    client, _, lease = annotator()
    commits.clear()
    client.post(
        f"/api/v1/assignments/{lease['assignment']}/submit/",
        {"payload": {"choice": "a"}, "time_on_task_ms": 500, "idempotency_key": str(uuid.uuid4())},
        format="json",
    )
    submitted = len(commits)
    following = Assignment.objects.filter(status=Assignment.Status.LEASED).get()
    commits.clear()
    client.post(f"/api/v1/assignments/{following.pk}/skip/", {}, format="json")
    assert len(commits) == submitted


@pytest.mark.django_db
def test_a_skip_is_kept_and_answered_with_why_no_next_item_follows():
    # New consent text after the lease: the skip stands, the next item waits for consent
    # (a 403 here used to tell the client its skip had failed, though it was stored).
    client, campaign, lease = annotator()
    campaign.consent_version = "v2"
    campaign.save(update_fields=["consent_version"])
    skipped = client.post(f"/api/v1/assignments/{lease['assignment']}/skip/", {}, format="json")
    assert skipped.status_code == 200
    assert skipped.json()["item"] is None
    assert skipped.json()["code"] == "consent_required"
    assert Assignment.objects.get(pk=lease["assignment"]).status == Assignment.Status.SKIPPED
