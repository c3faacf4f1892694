"""Conversation pages through Django's test client, with the stand-in model over real HTTP.

The plain form works without a script (the page waits for the replies); the streamed
form answers server-sent events; replies and edits are escaped; a conversation is its
person's and its campaign's researchers' only (a dyad's too); and neither an endpoint's
key, nor, on an annotator's page, its name or address, appears in anything served.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from collection.models import Audience, Campaign, Conversation, Response, Slot, Turn
from tests.factories import AudienceFactory, UserFactory, make_researcher, ready_participant
from tests.helpers import STANDIN_KEY, conversation_campaign, converse

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sse_events(response) -> list[tuple[str, dict]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        if name and data:
            events.append((name.group(1), json.loads(data.group(1))))
    return events, body


class Served:
    """Every body a test was served, to grep."""

    def __init__(self):
        self.bodies: list[tuple[str, str]] = []

    def keep(self, label: str, response, status: int = 200):
        assert response.status_code == status, (label, response.status_code)
        if getattr(response, "streaming", False):
            events, body = sse_events(response)
            self.bodies.append((label, body))
            return events
        self.bodies.append((label, response.content.decode()))
        return response


def chat(campaign) -> str:
    return f"/campaigns/{campaign.slug}/chat/"


def test_a_conversation_through_the_plain_form_and_the_stream_never_shows_a_key_or_name(
    researcher, standin
):
    campaign, audience, endpoints = conversation_campaign(researcher, standin, endpoints=3)
    person = ready_participant(audience=audience, campaign=campaign)
    browser = client_for(person.user)
    served = Served()

    # The annotate link goes to the chat page, which offers to start.
    assert browser.get(f"/campaigns/{campaign.slug}/annotate/").url == chat(campaign)
    page = served.keep("chat, before", browser.get(chat(campaign)))
    assert b"Start a conversation" in page.content
    served.keep("start", browser.post(chat(campaign) + "start/"), 302)
    conversation = Conversation.objects.get(participant=person)
    page = served.keep("chat, first", browser.get(chat(campaign)))
    assert conversation.item.prompt.encode() in page.content  # the given opening, to send

    # Without a script: the form posts, the page waits, and comes back with the replies.
    served.keep(
        "ask, plain",
        browser.post(
            chat(campaign) + "ask/",
            {"conversation": conversation.pk, "message": "What should I cook tonight?"},
        ),
        302,
    )
    page = served.keep("chat, replies", browser.get(chat(campaign)))
    for n in (1, 2, 3):
        assert f"Reply {n}".encode() in page.content
    conversation.refresh_from_db()
    token, shown = conversation.pending["token"], conversation.pending["shown"]
    served.keep(
        "judge",
        browser.post(
            chat(campaign) + "judge/",
            {
                "conversation": conversation.pk,
                "token": token,
                "choice": shown[2],
                "edited_text": "<script>alert('x')</script> Pasta.",
            },
        ),
        302,
    )
    turn = Turn.objects.get(conversation=conversation)
    assert turn.chosen == shown[2] and turn.edited_text.startswith("<script>")
    page = served.keep("chat, second", browser.get(chat(campaign)))
    assert b"&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Pasta." in page.content
    assert b"<script>alert(" not in page.content

    # With the script: the same form streams server-sent events.
    events = served.keep(
        "ask, streamed",
        browser.post(
            chat(campaign) + "ask/",
            {"conversation": conversation.pk, "message": "And dessert?"},
            HTTP_ACCEPT="text/event-stream",
        ),
    )
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("reply") == 3
    assert "delta" in names
    conversation.refresh_from_db()
    served.keep(
        "judge 2",
        browser.post(
            chat(campaign) + "judge/",
            {
                "conversation": conversation.pk,
                "token": conversation.pending["token"],
                "choice": conversation.pending["shown"][0],
            },
        ),
        302,
    )
    served.keep(
        "end",
        browser.post(chat(campaign) + "end/", {"conversation": conversation.pk, "rating": "4"}),
        302,
    )
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED and conversation.turns.count() == 2
    served.keep("mine", browser.get("/conversations/"))
    served.keep("detail, own", browser.get(f"/conversations/{conversation.pk}/"))

    # Everything the participant was served: no key, no endpoint name, no address.
    secrets = [STANDIN_KEY, standin.base_url, f"127.0.0.1:{standin.server_address[1]}"]
    secrets += [endpoint.name for endpoint in endpoints]
    for label, body in served.bodies:
        for secret in secrets:
            assert secret not in body, (label, secret)

    # The researcher's pages name the endpoints, and still never show the key.
    lab = client_for(researcher)
    page = served.keep("researcher list", lab.get(f"/campaigns/{campaign.slug}/conversations/"))
    detail = served.keep("researcher detail", lab.get(f"/conversations/{conversation.pk}/"))
    assert all(endpoint.name.encode() in detail.content for endpoint in endpoints)
    served.keep("endpoints", lab.get("/endpoints/"))
    for label, body in served.bodies:
        assert STANDIN_KEY not in body, label


def test_bad_input_gets_a_clear_answer_and_changes_nothing(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    browser = client_for(person.user)
    browser.post(chat(campaign) + "start/")
    conversation = Conversation.objects.get(participant=person)
    ask = chat(campaign) + "ask/"
    for message, words in (
        ("", "Write a message first."),
        ("   ", "Must not be blank."),
        ("nul\x00here", "NUL"),
        ("x" * 20_001, "At most 20000 characters"),
    ):
        response = browser.post(
            ask, {"conversation": conversation.pk, "message": message}, follow=True
        )
        assert response.status_code == 200 and words.encode() in response.content, words
    conversation.refresh_from_db()
    assert conversation.pending is None and not standin.requests
    # Someone else's conversation, or none: 404.
    other = ready_participant(audience=audience, campaign=campaign)
    other_browser = client_for(other.user)
    assert (
        other_browser.post(ask, {"conversation": conversation.pk, "message": "hi"}).status_code
        == 404
    )
    assert browser.post(ask, {"conversation": "nope", "message": "hi"}).status_code == 404

    browser.post(ask, {"conversation": conversation.pk, "message": "Hello"})
    conversation.refresh_from_db()
    response = browser.post(
        chat(campaign) + "judge/",
        {"conversation": conversation.pk, "token": conversation.pending["token"], "choice": "q"},
    )
    assert response.status_code == 400 and b"Pick one of the replies shown." in response.content
    response = browser.post(
        chat(campaign) + "end/", {"conversation": conversation.pk, "rating": "4"}, follow=True
    )
    assert b"Judge at least one turn" in response.content
    assert not Turn.objects.exists()
    # A model's markup is text, on the page and in the stream.
    standin.set_behaviour(text="<img src=x onerror=alert(1)> \x00 done")
    refused = browser.post(
        chat(campaign) + "discard/", {"conversation": conversation.pk}, follow=True
    )
    assert b"Judge these replies: at least two arrived." in refused.content
    conversation.refresh_from_db()
    browser.post(
        chat(campaign) + "judge/",
        {
            "conversation": conversation.pk,
            "token": conversation.pending["token"],
            "choice": conversation.pending["shown"][0],
        },
    )
    events, _body = sse_events(
        browser.post(
            ask,
            {"conversation": conversation.pk, "message": "Again"},
            HTTP_ACCEPT="text/event-stream",
        )
    )
    assert events[-1][0] == "done"
    page = browser.get(chat(campaign))
    assert b"&lt;img src=x onerror=alert(1)&gt; \xef\xbf\xbd done" in page.content
    assert b"<img src=x" not in page.content


def test_a_dyads_conversation_is_seen_only_by_its_person_and_the_campaigns_researchers(
    researcher, standin
):
    dyad = AudienceFactory(slug="alex", name="Alex", kind=Audience.Kind.DYADIC, max_members=1)
    campaign, _audience, _endpoints = conversation_campaign(researcher, standin, audience=dyad)
    alex = ready_participant(audience=dyad, campaign=campaign)
    alex_browser = client_for(alex.user)
    alex_browser.post(chat(campaign) + "start/")
    conversation = Conversation.objects.get(participant=alex)
    alex_browser.post(chat(campaign) + "ask/", {"conversation": conversation.pk, "message": "Hi"})
    conversation.refresh_from_db()
    alex_browser.post(
        chat(campaign) + "judge/",
        {
            "conversation": conversation.pk,
            "token": conversation.pending["token"],
            "choice": conversation.pending["shown"][0],
        },
    )
    detail = f"/conversations/{conversation.pk}/"
    someone = ready_participant(audience=AudienceFactory(slug="others"))
    other_researcher = make_researcher()
    admin = UserFactory(is_staff=True)
    for user, status in (
        (alex.user, 200),
        (researcher, 200),
        (admin, 200),
        (someone.user, 404),
        (other_researcher, 404),
    ):
        browser = client_for(user)
        assert browser.get(detail).status_code == status, user
        listed = browser.get("/conversations/")
        assert (detail.encode() in listed.content) == (user == alex.user), user
        campaign_page = browser.get(f"/campaigns/{campaign.slug}/conversations/")
        assert campaign_page.status_code == (200 if status == 200 and user != alex.user else 404)
    assert client_for(someone.user).post(detail + "delete/").status_code == 404
    assert client_for(researcher).post(detail + "delete/").status_code == 403
    assert client_for(other_researcher).get(chat(campaign)).status_code == 404

    # The person deletes it: gone from every page, out of later releases.
    assert alex_browser.post(detail + "delete/").status_code == 302
    conversation.refresh_from_db()
    assert conversation.deleted_at and conversation.withdrawn_at
    for user in (alex.user, researcher, admin):
        assert client_for(user).get(detail).status_code == 404


def test_the_researcher_sets_endpoints_and_limits_on_the_campaign_page(researcher, standin):
    campaign, _, endpoints = conversation_campaign(researcher, standin, endpoints=3)
    lab = client_for(researcher)
    url = f"/campaigns/{campaign.slug}/conversations/"
    page = lab.get(url)
    assert all(endpoint.name.encode() in page.content for endpoint in endpoints)
    response = lab.post(
        url,
        {
            "endpoint_ids": [e.pk for e in endpoints],
            "replies_per_turn": 4,
            "turn_limit": 3,
            "max_calls_in_flight": 8,
        },
    )
    assert response.status_code == 400 and b"Only 3 endpoints are chosen" in response.content
    response = lab.post(
        url,
        {
            "endpoint_ids": [e.pk for e in endpoints[:2]],
            "replies_per_turn": 2,
            "turn_limit": 3,
            "arena": "on",
            "max_calls_in_flight": 4,
            "token_budget": 50_000,
        },
    )
    assert response.status_code == 302
    setup = Campaign.objects.get(pk=campaign.pk).conversation_settings
    assert setup.arena and setup.turn_limit == 3 and setup.token_budget == 50_000
    assert setup.endpoint_ids == sorted(e.pk for e in endpoints[:2])
    # Not a researcher of this campaign: 404.
    assert client_for(make_researcher()).get(url).status_code == 404


def test_a_conversation_cannot_be_answered_around_its_page(researcher, standin):
    """The API's and the plain annotate form's submit would fill the seed's slot with a
    bare rating; both are refused, so k counts only real conversations."""
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    api = APIClient()
    api.force_authenticate(person.user)
    lease = api.post(f"/api/v1/campaigns/{campaign.slug}/next/")
    assert lease.status_code == 200, lease.content
    assignment = lease.json()["assignment"]
    body = {"payload": {"rating": 5}, "time_on_task_ms": 800, "idempotency_key": str(uuid.uuid4())}
    refused = api.post(f"/api/v1/assignments/{assignment}/submit/", body, format="json")
    assert refused.status_code == 409, refused.content
    assert "turn by turn" in refused.content.decode()
    browser = client_for(person.user)
    plain = browser.post(
        f"/campaigns/{campaign.slug}/submit/",
        {"assignment": assignment, "rating": "5", "idempotency_key": str(uuid.uuid4())},
    )
    assert plain.status_code == 409
    assert not Response.objects.exists()
    assert not Slot.objects.filter(campaign=campaign, filled=True).exists()
    # The chat page takes the same lease on and the conversation goes on as usual.
    browser.post(chat(campaign) + "start/")
    assert Conversation.objects.get(participant=person).assignment_id == assignment


def test_the_admin_shows_a_conversation_read_only_with_its_turns(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = converse(person, campaign, turns=2)
    admin = client_for(UserFactory(is_staff=True, is_superuser=True))
    page = admin.get(f"/admin/collection/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Message 0" in body and "Message 1" in body and STANDIN_KEY not in body
    assert 'name="_save"' not in body  # looked at, not edited
    assert admin.get("/admin/collection/conversation/add/").status_code == 403


def test_judging_the_last_turn_says_to_rate_the_conversation_not_to_write_again(
    researcher, standin
):
    # The page said "Write your next message." after the last turn, while it showed
    # the closing rating and no message box.
    campaign, audience, _ = conversation_campaign(researcher, standin, settings={"turn_limit": 2})
    person = ready_participant(audience=audience, campaign=campaign)
    browser = client_for(person.user)
    browser.post(chat(campaign) + "start/")
    conversation = Conversation.objects.get(participant=person)
    said = []
    for n in range(2):
        browser.post(chat(campaign) + "ask/", {"conversation": conversation.pk, "message": f"Q{n}"})
        conversation.refresh_from_db()
        page = browser.post(
            chat(campaign) + "judge/",
            {
                "conversation": conversation.pk,
                "token": conversation.pending["token"],
                "choice": conversation.pending["shown"][0],
            },
            follow=True,
        )
        said.append(page.content.decode())
    assert "Saved. Write your next message." in said[0]
    assert "Write your next message." not in said[1]
    assert "Saved. That was the last turn: rate the conversation." in said[1]
    assert 'id="message-form"' not in said[1]
