"""How many SQL statements one conversation turn costs, through the real pages.

A turn is the streamed ask (read to its ``done`` event) and the judgement. Each statement
is a round trip on the request's path; the bounds keep the count from creeping back.
Counted as Django sees them, with the test's savepoints standing where production has
BEGIN and COMMIT (two per transaction: the ask's lease and the judgement). Before this
test: ask 33, judge 15; the second turn costs as much as the first.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from collection.models import Conversation, Turn
from tests.factories import ready_participant
from tests.helpers import conversation_campaign

pytestmark = pytest.mark.django_db

ASK_MAX = 14  # measured 14 (was 33)
JUDGE_MAX = 11  # measured 11 (was 15)


def _statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


def test_a_turn_costs_few_statements(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin, endpoints=2)
    person = ready_participant(audience=audience, campaign=campaign)
    browser = Client()
    browser.force_login(person.user)
    chat = f"/campaigns/{campaign.slug}/chat/"
    assert browser.post(chat + "start/").status_code == 302
    conversation = Conversation.objects.get(participant=person)
    for n in range(2):
        with CaptureQueriesContext(connection) as asked:
            response = browser.post(
                chat + "ask/",
                {"conversation": conversation.pk, "message": f"Message {n}"},
                HTTP_ACCEPT="text/event-stream",
            )
            body = b"".join(response.streaming_content).decode()
        assert "event: done" in body and '"arrived": 2' in body, body[-300:]
        conversation.refresh_from_db()
        pending = conversation.pending
        with CaptureQueriesContext(connection) as judged:
            response = browser.post(
                chat + "judge/",
                {
                    "conversation": conversation.pk,
                    "token": pending["token"],
                    "choice": pending["shown"][0],
                },
            )
        assert response.status_code == 302
        assert Turn.objects.filter(conversation=conversation).count() == n + 1
        ask, judge = _statements(asked), _statements(judged)
        assert len(ask) <= ASK_MAX, (len(ask), ask)
        assert len(judge) <= JUDGE_MAX, (len(judge), judge)
