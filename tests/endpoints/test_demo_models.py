"""`manage.py demo_models`: the demo's conversation and arena campaigns work, against
the stand-in on the port `make run` starts it on (the page says it is a stand-in), or
against the model PLURALIGN_DEMO_MODEL_URL names."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from collection.models import Campaign, Conversation, Turn
from endpoints import demo
from endpoints.models import ModelEndpoint
from endpoints.standin import StandinServer

pytestmark = pytest.mark.django_db


def chat_once(client: Client, slug: str, message: str) -> Conversation:
    """Start, send one message through the plain form, pick the first reply shown."""
    chat = f"/campaigns/{slug}/chat/"
    assert client.post(chat + "start/").status_code == 302
    conversation = Conversation.objects.filter(campaign__slug=slug).latest("id")
    response = client.post(chat + "ask/", {"conversation": conversation.pk, "message": message})
    assert response.status_code == 302
    conversation.refresh_from_db()
    pending = conversation.pending
    assert len(pending["shown"]) == 2, pending
    response = client.post(
        chat + "judge/",
        {"conversation": conversation.pk, "token": pending["token"], "choice": pending["shown"][0]},
    )
    assert response.status_code == 302
    return conversation


def test_the_demo_conversation_and_arena_work_against_the_standin_and_say_so(settings):
    with StandinServer(api_key=demo.STANDIN_KEY) as standin:
        settings.PLURALIGN_DEMO_MODEL_URL = ""
        settings.PLURALIGN_DEMO_STANDIN_PORT = standin.server_address[1]
        call_command("demo", "--no-simulate", stdout=io.StringIO())
        out = io.StringIO()
        call_command("demo_models", stdout=out)
        assert "stand-in" in out.getvalue()
        call_command("demo_models", stdout=io.StringIO())  # again: nothing new
        assert Campaign.objects.filter(item_kind="conversation").count() == 2
        assert ModelEndpoint.objects.count() == 3

        client = Client()
        assert client.login(username="annotator", password="demo-pass-2026")
        for slug in (demo.CONVERSATION_SLUG, demo.ARENA_SLUG):
            page = client.get(f"/campaigns/{slug}/chat/")
            assert page.status_code == 200 and b"local stand-in" in page.content
            # The annotator consents on the campaign's own consent page first.
            client.post(f"/campaigns/{slug}/consent/", {"agree": "on"})
            conversation = chat_once(client, slug, "What should I cook tonight?")
            assert Turn.objects.filter(conversation=conversation).count() == 1
        battle = Conversation.objects.get(campaign__slug=demo.ARENA_SLUG)
        assert battle.arena and len(set(battle.endpoint_ids)) == 2
        asked = [request["model"] for request in standin.requests]
        assert asked and set(asked) == {"standin"}


def test_with_a_model_url_the_demo_endpoints_call_that_model_and_no_note_is_shown(settings):
    with StandinServer() as server:  # as an Ollama would: no key
        settings.PLURALIGN_DEMO_MODEL_URL = server.base_url
        settings.PLURALIGN_DEMO_MODEL = "llama3.2"
        call_command("demo", "--no-simulate", stdout=io.StringIO())
        out = io.StringIO()
        call_command("demo_models", stdout=out)
        assert f"llama3.2 at {server.base_url}" in out.getvalue()
        assert set(ModelEndpoint.objects.values_list("model", flat=True)) == {"llama3.2"}
        client = Client()
        assert client.login(username="annotator", password="demo-pass-2026")
        page = client.get(f"/campaigns/{demo.CONVERSATION_SLUG}/chat/")
        assert b"local stand-in" not in page.content
        client.post(f"/campaigns/{demo.CONVERSATION_SLUG}/consent/", {"agree": "on"})
        chat_once(client, demo.CONVERSATION_SLUG, "Hello")
        assert {request["model"] for request in server.requests} == {"llama3.2"}
