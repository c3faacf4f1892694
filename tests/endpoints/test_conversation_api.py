"""The conversation API for researchers: settings and conversations, by the campaign rule."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import make_researcher, ready_participant
from tests.helpers import STANDIN_KEY, conversation_campaign, converse

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_researcher_sets_and_reads_settings_and_lists_conversations(researcher, standin, api):
    campaign, audience, endpoints = conversation_campaign(researcher, standin, endpoints=3)
    url = f"/api/v1/campaigns/{campaign.slug}/conversation-settings/"
    ids = [endpoint.pk for endpoint in endpoints]
    refused = api.put(url, {"endpoint_ids": ids, "replies_per_turn": 4}, format="json")
    assert refused.status_code == 400 and "replies_per_turn" in refused.content.decode()
    refused = api.put(url, {"endpoint_ids": ids[:1]}, format="json")
    assert refused.status_code == 400 and "endpoint_ids" in refused.content.decode()
    saved = api.put(
        url,
        {"endpoint_ids": ids, "replies_per_turn": 3, "turn_limit": 4, "token_budget": 9000},
        format="json",
    )
    assert saved.status_code == 200, saved.content
    assert api.get(url).json() == {
        "endpoint_ids": sorted(ids),
        "replies_per_turn": 3,
        "turn_limit": 4,
        "arena": False,
        "max_calls_in_flight": 8,
        "token_budget": 9000,
        "tokens_used": 0,
        "paused_reason": "",
    }

    person = ready_participant(audience=audience, campaign=campaign)
    converse(person, campaign, turns=2)
    listed = api.get(f"/api/v1/campaigns/{campaign.slug}/conversations/")
    assert listed.status_code == 200
    (conversation,) = listed.json()["results"]
    assert conversation["status"] == "closed" and conversation["closing_rating"] == 4
    assert [turn["index"] for turn in conversation["turns"]] == [0, 1]
    sources = {reply["source"] for reply in conversation["turns"][0]["replies"]}
    assert sources == {endpoint.name for endpoint in endpoints}
    assert conversation["turns"][1]["history"][0]["content"] == "Message 0"
    assert STANDIN_KEY not in listed.content.decode()


def test_other_people_get_404_and_annotators_403(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    for path in ("conversation-settings/", "conversations/"):
        url = f"/api/v1/campaigns/{campaign.slug}/{path}"
        assert api_for(make_researcher()).get(url).status_code == 404
        assert api_for(person.user).get(url).status_code == 403
    assert api_for(researcher).get("/api/v1/campaigns/nope/conversations/").status_code == 404
