"""Each message a participant sends calls 2-4 model endpoints against the campaign's
token budget: the number of messages one person may send is bounded per hour, through
the plain form and the stream, without touching anyone else's."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from collection.models import Conversation
from tests.factories import ready_participant
from tests.helpers import conversation_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_asks_an_hour(settings):
    settings.PLURALIGN_THROTTLING = True
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "conversation_ask": "2/hour",
        },
    }
    cache.clear()
    yield
    cache.clear()


def _browser(person) -> Client:
    browser = Client()
    browser.force_login(person.user)
    return browser


def _ask_and_judge(browser, chat: str, conversation: Conversation, message: str):
    assert browser.post(chat + "ask/", {"conversation": conversation.pk, "message": message})
    conversation.refresh_from_db()
    pending = conversation.pending
    assert pending and len(pending["shown"]) == 2, pending
    judged = browser.post(
        chat + "judge/",
        {"conversation": conversation.pk, "token": pending["token"], "choice": pending["shown"][0]},
    )
    assert judged.status_code == 302


def test_a_participant_over_the_hourly_messages_is_refused_and_no_model_is_called(
    researcher, standin, two_asks_an_hour
):
    campaign, audience, _ = conversation_campaign(researcher, standin, settings={"turn_limit": 5})
    person = ready_participant(audience=audience, campaign=campaign)
    browser = _browser(person)
    chat = f"/campaigns/{campaign.slug}/chat/"
    browser.post(chat + "start/")
    conversation = Conversation.objects.get(participant=person)
    _ask_and_judge(browser, chat, conversation, "First")
    _ask_and_judge(browser, chat, conversation, "Second")
    called = len(standin.requests)

    page = browser.post(
        chat + "ask/", {"conversation": conversation.pk, "message": "Third"}, follow=True
    )
    assert b"many messages" in page.content
    streamed = browser.post(
        chat + "ask/",
        {"conversation": conversation.pk, "message": "Fourth"},
        HTTP_ACCEPT="text/event-stream",
    )
    body = b"".join(streamed.streaming_content)
    assert b"event: error" in body and b"many messages" in body
    conversation.refresh_from_db()
    assert conversation.pending is None and conversation.turns.count() == 2
    assert len(standin.requests) == called

    # Someone else in the same campaign is not held back.
    other = ready_participant(audience=audience, campaign=campaign)
    other_browser = _browser(other)
    other_browser.post(chat + "start/")
    theirs = Conversation.objects.get(participant=other)
    other_browser.post(chat + "ask/", {"conversation": theirs.pk, "message": "Hello"})
    assert len(standin.requests) > called
