"""Conversations that end without their closing rating end *abandoned*, visibly.

Through the real pages and API, with the stand-in model over real HTTP: a conversation
whose lease ran out (time travel of ``lease_expires_at`` in the database) and whose seed
went to someone else, one skipped through the generic API skip, and one skipped on its
page after judged turns all end abandoned; their person is told the conversation has
ended and cannot go on with it; a release leaves their turns out and its card counts
them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection.models import Assignment, Conversation, Slot, Turn
from tests.factories import ready_participant
from tests.helpers import conversation_campaign

pytestmark = pytest.mark.django_db


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def chat(campaign) -> str:
    return f"/campaigns/{campaign.slug}/chat/"


def judged_turn(browser, campaign, conversation, message="Hello") -> None:
    """One turn through the page: the plain form asks, then the first reply is picked."""
    assert (
        browser.post(
            chat(campaign) + "ask/", {"conversation": conversation.pk, "message": message}
        ).status_code
        == 302
    )
    conversation.refresh_from_db()
    pending = conversation.pending
    response = browser.post(
        chat(campaign) + "judge/",
        {"conversation": conversation.pk, "token": pending["token"], "choice": pending["shown"][0]},
    )
    assert response.status_code == 302


def started(browser, campaign, person) -> Conversation:
    assert browser.post(chat(campaign) + "start/").status_code == 302
    return Conversation.objects.get(participant=person, status=Conversation.Status.OPEN)


def expire(conversation) -> None:
    """Time travel: the conversation's lease ran out an hour ago."""
    past = timezone.now() - timedelta(hours=1)
    Assignment.objects.filter(pk=conversation.assignment_id).update(expires_at=past)
    Slot.objects.filter(holder_id=conversation.assignment_id).update(lease_expires_at=past)


def test_a_conversation_whose_place_went_to_someone_else_ends_abandoned(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=1, k=1)
    alex, sam = (ready_participant(audience=audience, campaign=campaign) for _ in range(2))
    alex_browser, sam_browser = browser_for(alex.user), browser_for(sam.user)
    conversation = started(alex_browser, campaign, alex)
    judged_turn(alex_browser, campaign, conversation)
    # Alex's next replies are waiting when the lease runs out and Sam takes the seed.
    alex_browser.post(chat(campaign) + "ask/", {"conversation": conversation.pk, "message": "Hm"})
    conversation.refresh_from_db()
    token = conversation.pending["token"]
    expire(conversation)
    theirs = started(sam_browser, campaign, sam)
    assert theirs.item_id == conversation.item_id

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ABANDONED
    assert conversation.ended_by == Conversation.EndedBy.EXPIRED
    assert conversation.closed_at is not None and conversation.pending is None
    # Alex sees it has ended, and cannot go on with it or judge the old replies.
    page = alex_browser.get(chat(campaign))
    assert b"Your last conversation has ended" in page.content
    assert b"its place went to someone else" in page.content
    for url, form in (
        ("ask/", {"conversation": conversation.pk, "message": "Still there?"}),
        ("judge/", {"conversation": conversation.pk, "token": token, "choice": "a"}),
        ("end/", {"conversation": conversation.pk, "rating": "4"}),
    ):
        answer = alex_browser.post(chat(campaign) + url, form, follow=True)
        assert b"This conversation is abandoned." in answer.content, url
    assert Turn.objects.filter(conversation=conversation).count() == 1
    mine = alex_browser.get("/conversations/")
    assert b"Abandoned" in mine.content
    # Sam's conversation goes on as usual.
    judged_turn(sam_browser, campaign, theirs)
    assert Turn.objects.filter(conversation=theirs).count() == 1


def test_a_lease_that_ran_out_with_the_place_still_free_goes_on(researcher, standin):
    """Only losing the place ends a conversation: a late participant whose seed nobody
    took carries on (the lease is renewed)."""
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=1, k=1)
    alex = ready_participant(audience=audience, campaign=campaign)
    browser = browser_for(alex.user)
    conversation = started(browser, campaign, alex)
    judged_turn(browser, campaign, conversation)
    expire(conversation)
    judged_turn(browser, campaign, conversation, "Sorry, I was away")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.turns.count() == 2
    assert Slot.objects.get(holder_id=conversation.assignment_id).lease_expires_at > timezone.now()


def test_skipping_through_the_api_or_the_page_abandons_the_conversation(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=2, k=1)
    alex, sam, kim = (ready_participant(audience=audience, campaign=campaign) for _ in range(3))

    # The generic API skip of the conversation's lease.
    browser = browser_for(alex.user)
    through_api = started(browser, campaign, alex)
    judged_turn(browser, campaign, through_api)
    api = APIClient()
    api.force_authenticate(alex.user)
    skipped = api.post(f"/api/v1/assignments/{through_api.assignment_id}/skip/", {}, format="json")
    assert skipped.status_code == 200, skipped.content
    through_api.refresh_from_db()
    assert through_api.status == Conversation.Status.ABANDONED
    assert through_api.ended_by == Conversation.EndedBy.SKIPPED
    assert b"Start a conversation" in browser.get(chat(campaign)).content

    # The page's skip, after a judged turn (and with replies waiting).
    sam_browser = browser_for(sam.user)
    on_page = started(sam_browser, campaign, sam)
    judged_turn(sam_browser, campaign, on_page)
    page = sam_browser.get(chat(campaign))
    assert b"Skip this conversation without rating it" in page.content
    sam_browser.post(chat(campaign) + "ask/", {"conversation": on_page.pk, "message": "More"})
    answer = sam_browser.post(chat(campaign) + "skip/", {"conversation": on_page.pk}, follow=True)
    assert b"this conversation has ended" in answer.content
    on_page.refresh_from_db()
    assert on_page.status == Conversation.Status.ABANDONED and on_page.pending is None
    # Both seeds are free again (k = 1): someone else gets one.
    assert started(browser_for(kim.user), campaign, kim).item_id in {
        through_api.item_id,
        on_page.item_id,
    }


def test_a_release_leaves_abandoned_conversations_out_and_counts_them(
    researcher, standin, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=3, k=1)
    alex, sam, kim = (ready_participant(audience=audience, campaign=campaign) for _ in range(3))
    # Alex finishes and rates a conversation; Sam skips one after a turn; Kim's place
    # goes to Alex after Kim's lease ran out.
    alex_browser = browser_for(alex.user)
    rated = started(alex_browser, campaign, alex)
    judged_turn(alex_browser, campaign, rated, "Rated one")
    alex_browser.post(chat(campaign) + "end/", {"conversation": rated.pk, "rating": "5"})
    sam_browser = browser_for(sam.user)
    skipped = started(sam_browser, campaign, sam)
    judged_turn(sam_browser, campaign, skipped, "Skipped one")
    sam_browser.post(chat(campaign) + "skip/", {"conversation": skipped.pk})
    kim_browser = browser_for(kim.user)
    lost = started(kim_browser, campaign, kim)
    judged_turn(kim_browser, campaign, lost, "Lost one")
    expire(lost)
    # The remaining free seeds first, then the expired one: Alex is capped at none here,
    # so a fourth person takes whatever is left.
    for _ in range(2):
        other = ready_participant(audience=audience, campaign=campaign)
        started(browser_for(other.user), campaign, other)
    lost.refresh_from_db()
    assert lost.status == Conversation.Status.ABANDONED
    assert Conversation.objects.filter(status=Conversation.Status.ABANDONED).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign, created_by=researcher, formats=["jsonl"])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    folder = settings.RELEASES_ROOT / job.release_path
    card = (folder / "README.md").read_text()
    assert "Left out: 2 abandoned conversations" in card
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["counts"]["abandoned_conversations"] == {audience.slug: 2}
    texts = "\n".join(path.read_text() for path in folder.rglob("*.jsonl"))
    assert "Rated one" in texts
    assert "Skipped one" not in texts and "Lost one" not in texts
