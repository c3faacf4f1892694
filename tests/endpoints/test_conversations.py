"""Conversation turns through the services, against the stand-in model over real HTTP.

What a participant would notice: replies from every endpoint asked, in a shuffled order
and never named; a failing or hanging model reported in plain words while the turn goes
on with the replies that came; retrying or writing again when fewer than two came;
a turn saved whole with its history; the engine's k and cap counting conversations;
the token budget pausing the campaign; replies cut at their size bound.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from collection import conversations as conversation_writes
from collection import services as collection_services
from collection.models import Assignment, Campaign, Conversation, Response, Slot, Turn
from endpoints.conversations import pairing, runtime, selectors
from endpoints.conversations import services as conversation_services
from endpoints.models import ModelEndpoint
from tests.factories import make_researcher, ready_participant
from tests.helpers import conversation_campaign, converse, events_of, make_endpoint

pytestmark = pytest.mark.django_db


def ask(person, conversation, message="Hello there", **kwargs) -> list[dict]:
    return events_of(
        conversation_services.turn_ask(
            participant=person, conversation=conversation, message=message, **kwargs
        )
    )


def begin(person, campaign) -> Conversation:
    started = conversation_services.conversation_begin(participant=person, campaign=campaign)
    assert isinstance(started, Conversation), started
    return started


def judge(person, conversation, judgement=None, **fields):
    conversation.refresh_from_db()
    pending = conversation.pending
    return conversation_writes.turn_save(
        participant=person,
        conversation_id=conversation.pk,
        token=pending["token"],
        judgement=judgement or {"choice": pending["shown"][0]},
        **fields,
    )


def test_every_endpoint_replies_streamed_in_a_shuffled_order_and_the_turn_is_saved_whole(
    researcher, standin
):
    campaign, audience, endpoints = conversation_campaign(researcher, standin, endpoints=3)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    events = ask(person, conversation, "How should I ask my landlord for a repair?")

    assert events[0] == {"event": "start", "replies": [1, 2, 3], "retry": False}
    deltas = [e for e in events if e["event"] == "delta"]
    assert {e["position"] for e in deltas} == {1, 2, 3} and len(deltas) > 3 * 5
    assert events[-1]["event"] == "done" and events[-1]["can_judge"]
    names = {endpoint.name for endpoint in endpoints}
    assert not any(name in str(events) for name in names)  # positions only
    # Three requests, in flight together, each with the message.
    assert [r["messages"][-1]["content"] for r in standin.requests[-3:]] == [
        "How should I ask my landlord for a repair?"
    ] * 3

    # Nothing is a turn until it is judged.
    assert not Turn.objects.exists()
    conversation.refresh_from_db()
    pending = conversation.pending
    streamed = {n: "".join(e["text"] for e in deltas if e["position"] == n) for n in (1, 2, 3)}
    texts = {reply["id"]: reply["text"] for reply in pending["replies"]}
    assert {streamed[n] for n in (1, 2, 3)} == set(texts.values())
    assert sorted(pending["shown"]) == ["a", "b", "c"]

    chosen = pending["shown"][1]
    turn = judge(person, conversation, {"choice": chosen}, rationale="Clearer.")
    assert turn.index == 0 and turn.chosen == chosen and turn.rationale == "Clearer."
    assert turn.history == [] and turn.message == "How should I ask my landlord for a repair?"
    assert {reply["source"] for reply in turn.replies} == names
    assert all(reply["usage"]["total_tokens"] > 0 for reply in turn.replies)
    assert all(reply["latency_ms"] is not None for reply in turn.replies)

    # The chosen reply carries the conversation on: the next turn's history has it.
    ask(person, conversation, "And if they refuse?")
    conversation.refresh_from_db()
    assert conversation.pending["history"] == [
        {"role": "user", "content": "How should I ask my landlord for a repair?"},
        {"role": "assistant", "content": texts[chosen]},
    ]
    assert standin.requests[-1]["messages"][:2] == conversation.pending["history"]


def test_an_edit_of_the_chosen_reply_continues_the_conversation_and_is_kept(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    ask(person, conversation)
    turn = judge(person, conversation, edited_text="A better reply, in my words.\r\nTwo lines.")
    assert turn.edited_text == "A better reply, in my words.\nTwo lines."
    assert turn.continuation == turn.edited_text
    ask(person, conversation, "Next")
    conversation.refresh_from_db()
    assert conversation.pending["history"][-1]["content"] == turn.edited_text


def test_a_failing_model_is_reported_plainly_and_the_turn_goes_on_with_the_others(
    researcher, standin
):
    campaign, audience, _ = conversation_campaign(researcher, standin, endpoints=3)
    standin.set_behaviour("model-1", status=500)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    events = ask(person, conversation)
    failed = [e for e in events if e["event"] == "failed"]
    assert len(failed) == 1 and failed[0]["message"] == "The model answered with an error."
    assert events[-1]["can_judge"] and events[-1]["arrived"] == 2
    assert "1 of 3 replies did not arrive" in events[-1]["message"]
    turn = judge(person, conversation)
    broken = [reply for reply in turn.replies if reply["error"]]
    assert [reply["source"] for reply in broken] == ["model-1"]
    assert broken[0]["text"] == "" and broken[0]["id"] not in turn.shown
    assert len(turn.shown) == 2


def test_with_fewer_than_two_replies_one_can_ask_again_or_write_again(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    ModelEndpoint.objects.filter(name="model-1").update(timeout_seconds=0.5)
    standin.set_behaviour("model-1", hang=True)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    events = ask(person, conversation)
    assert [e["message"] for e in events if e["event"] == "failed"] == [
        "The model did not answer in time."
    ]
    assert not events[-1]["can_judge"]
    conversation.refresh_from_db()
    with pytest.raises(collection_services.ServiceError) as refused:
        judge(person, conversation)
    assert refused.value.field == "judgement"

    # Asked again, only the missing reply is asked for; the one that came is kept.
    kept = next(r for r in conversation.pending["replies"] if not r["error"])
    standin.set_behaviour("model-1")
    before = len(standin.requests)
    again = ask(person, conversation, retry=True)
    assert again[0]["replies"] == [
        conversation.pending["order"].index(
            next(r["id"] for r in conversation.pending["replies"] if r["error"])
        )
        + 1
    ]
    assert len(standin.requests) == before + 1 and again[-1]["can_judge"]
    conversation.refresh_from_db()
    assert kept in conversation.pending["replies"]
    judge(person, conversation)
    assert conversation.turns.count() == 1

    # Or: the replies that cannot be judged are dropped and another message written.
    standin.set_behaviour("model-1", status=500)
    ask(person, conversation, "Second")
    conversation.refresh_from_db()
    conversation_services.turn_discard(participant=person, conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.pending is None and conversation.turns.count() == 1


def test_a_busy_model_says_so(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    standin.set_behaviour("model-0", status=429, retry_after=1)
    person = ready_participant(audience=audience, campaign=campaign)
    events = ask(person, begin(person, campaign))
    assert [e["message"] for e in events if e["event"] == "failed"] == [
        "The model is busy (too many requests)."
    ]


def test_a_judgement_is_checked_and_a_stale_or_repeated_form_changes_nothing(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    ask(person, conversation)
    conversation.refresh_from_db()
    token = conversation.pending["token"]
    for judgement, field in (({"choice": "z"}, "choice"), ({"choice": ""}, "choice")):
        with pytest.raises(collection_services.ServiceError) as refused:
            conversation_writes.turn_save(
                participant=person,
                conversation_id=conversation.pk,
                token=token,
                judgement=judgement,
            )
        assert refused.value.field == field
    with pytest.raises(collection_services.Conflict):
        conversation_writes.turn_save(
            participant=person,
            conversation_id=conversation.pk,
            token="old",
            judgement={"choice": conversation.pending["shown"][0]},
        )
    judge(person, conversation)
    with pytest.raises(collection_services.Conflict):  # the same form again
        conversation_writes.turn_save(
            participant=person,
            conversation_id=conversation.pk,
            token=token,
            judgement={"choice": conversation.pending["shown"][0]},
        )
    assert Turn.objects.count() == 1
    # Someone else's conversation is not theirs to judge.
    other = ready_participant(audience=audience, campaign=campaign)
    with pytest.raises(collection_services.NotFound):
        conversation_writes.turn_save(
            participant=other, conversation_id=conversation.pk, token=token, judgement={}
        )


def test_ranking_and_rating_campaigns_judge_every_reply(researcher, standin):
    ranked, audience, _ = conversation_campaign(
        researcher, standin, endpoints=3, preference_format=Campaign.PreferenceFormat.RANKING
    )
    person = ready_participant(audience=audience, campaign=ranked)
    conversation = begin(person, ranked)
    ask(person, conversation)
    conversation.refresh_from_db()
    shown = conversation.pending["shown"]
    with pytest.raises(collection_services.ServiceError):
        judge(person, conversation, {"ranking": shown[:2]})
    turn = judge(person, conversation, {"ranking": list(reversed(shown))})
    assert turn.chosen == shown[-1]

    rated, audience, _ = conversation_campaign(
        researcher,
        standin,
        preference_format=Campaign.PreferenceFormat.RATING,
        rating_min=1,
        rating_max=7,
    )
    person = ready_participant(audience=audience, campaign=rated)
    conversation = begin(person, rated)
    ask(person, conversation)
    conversation.refresh_from_db()
    first, second = conversation.pending["shown"]
    with pytest.raises(collection_services.ServiceError) as refused:
        judge(person, conversation, {"ratings": {first: 9, second: 2}})
    assert refused.value.field == f"ratings.{first}"
    turn = judge(person, conversation, {"ratings": {first: 3, second: 6}})
    assert turn.chosen == second and turn.judgement == {"ratings": {first: 3, second: 6}}


def test_k_and_the_per_participant_cap_count_conversations(researcher, standin):
    campaign, audience, _ = conversation_campaign(
        researcher, standin, seeds=2, k=1, per_participant_cap=1
    )
    first, second, third = (
        ready_participant(audience=audience, campaign=campaign) for _ in range(3)
    )
    one = converse(first, campaign, turns=1)
    assert one.status == Conversation.Status.CLOSED
    response = Response.objects.get(assignment=one.assignment)
    assert response.payload == {"rating": 4}
    assert Slot.objects.get(item=one.item).filled
    # The cap: one conversation each.
    capped = conversation_services.conversation_begin(participant=first, campaign=campaign)
    assert isinstance(capped, collection_services.NoItem) and capped.code == "cap_reached"
    # k=1: the second person gets the other seed; a third gets none while it runs.
    two = begin(second, campaign)
    assert two.item_id != one.item_id
    none_left = conversation_services.conversation_begin(participant=third, campaign=campaign)
    assert isinstance(none_left, collection_services.NoItem) and none_left.code == "exhausted"
    # Skipping before the first turn gives the seed back.
    conversation_writes.conversation_skip(participant=second, conversation_id=two.pk)
    assert begin(third, campaign).item_id == two.item_id


def test_the_turn_limit_ends_the_conversation_and_asks_for_its_rating(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin, settings={"turn_limit": 2})
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = converse(person, campaign, turns=2, rating=None)
    events = ask(person, conversation, "A third message")
    assert events == [
        {
            "event": "error",
            "message": "This conversation has reached its turn limit: please rate it.",
        }
    ]
    with pytest.raises(collection_services.ServiceError) as refused:
        conversation_writes.conversation_close(
            participant=person, conversation_id=conversation.pk, rating=9
        )
    assert refused.value.field == "rating"
    closed = conversation_writes.conversation_close(
        participant=person, conversation_id=conversation.pk, rating=5
    )
    assert closed.ended_by == Conversation.EndedBy.TURN_LIMIT and closed.closing_rating == 5


def test_spending_the_token_budget_pauses_the_campaign_with_a_message(researcher, standin):
    campaign, audience, _ = conversation_campaign(
        researcher, standin, settings={"token_budget": 40}
    )
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    assert ask(person, conversation)[-1]["event"] == "done"
    campaign.refresh_from_db()
    setup = campaign.conversation_settings
    assert setup.tokens_used > 40 and campaign.status == Campaign.Status.PAUSED
    assert "token budget of 40 is spent" in setup.paused_reason
    judge(person, conversation)  # replies that came can still be judged
    refused = ask(person, conversation, "More")
    assert refused == [{"event": "error", "message": setup.paused_reason}]
    # Raising the budget clears the message; reopening is the researcher's step.
    conversation_services.conversation_settings_save(
        campaign=campaign, user=researcher, endpoint_ids=setup.endpoint_ids, token_budget=10_000
    )
    setup.refresh_from_db()
    assert setup.paused_reason == ""


def test_a_turn_whose_page_goes_away_still_counts_the_tokens_of_replies_that_came(
    researcher, standin
):
    """Tokens are written once per turn, when its stream ends however it ends: a page
    closed after the first reply still counts that reply, holds no replies, and gives
    back its places in flight."""
    campaign, audience, _ = conversation_campaign(researcher, standin)
    standin.set_behaviour("model-1", latency_ms=2000)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    stream = conversation_services.turn_ask(
        participant=person, conversation=conversation, message="Hello"
    )
    for event in stream:
        if event["event"] == "reply":
            break
    stream.close()  # what Django does when the client goes away
    setup = campaign.conversation_settings
    setup.refresh_from_db()
    assert setup.tokens_used > 0
    conversation.refresh_from_db()
    assert conversation.pending is None and not conversation.turns.exists()
    # Every place in flight was given back (this session holds none of its locks).
    keys = [runtime._lock_key(campaign.pk, n) for n in range(setup.max_calls_in_flight)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND objsubid = 1 "
            "AND ((classid::bigint << 32) | objid::bigint) = ANY(%s)",
            [keys],
        )
        assert cursor.fetchone()[0] == 0


def test_a_reply_is_cut_at_its_size_bound(researcher, standin, monkeypatch):
    monkeypatch.setattr(runtime, "MAX_REPLY_CHARS", 40)
    campaign, audience, _ = conversation_campaign(researcher, standin)
    standin.set_behaviour(words=200)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    ask(person, conversation)
    turn = judge(person, conversation)
    assert all(len(r["text"]) == 40 and r["truncated"] for r in turn.replies)


def test_arena_battles_draw_every_pair_about_equally(researcher, standin):
    campaign, audience, _ = conversation_campaign(
        researcher, standin, endpoints=4, seeds=12, settings={"arena": True, "replies_per_turn": 2}
    )
    for _ in range(12):
        person = ready_participant(audience=audience, campaign=campaign)
        conversation = begin(person, campaign)
        assert conversation.arena and len(set(conversation.endpoint_ids)) == 2
    battles = Counter(
        pairing.pair_key(*c.endpoint_ids) for c in Conversation.objects.filter(campaign=campaign)
    )
    assert len(battles) == 6 and set(battles.values()) == {2}
    # Every turn of a battle asks the same two.
    conversation = Conversation.objects.filter(campaign=campaign).first()
    events = ask(conversation.participant, conversation)
    assert events[-1]["arrived"] == 2
    conversation.refresh_from_db()
    assert sorted(r["endpoint"] for r in conversation.pending["replies"]) == sorted(
        conversation.endpoint_ids
    )


def test_deleting_a_conversation_withdraws_it_and_gives_its_seed_back(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=1, k=1)
    person, other = (ready_participant(audience=audience, campaign=campaign) for _ in range(2))
    conversation = converse(person, campaign, turns=2)
    assert isinstance(
        conversation_services.conversation_begin(participant=other, campaign=campaign),
        collection_services.NoItem,
    )
    conversation_writes.conversation_delete(participant=person, conversation_id=conversation.pk)
    conversation.refresh_from_db()
    assert conversation.deleted_at and conversation.withdrawn_at
    assert Response.objects.get(assignment=conversation.assignment).withdrawn_at
    assert begin(other, campaign).item_id == conversation.item_id


def test_withdrawing_from_the_campaign_withdraws_its_conversations(researcher, standin):
    campaign, audience, _ = conversation_campaign(researcher, standin)
    person = ready_participant(audience=audience, campaign=campaign)
    closed = converse(person, campaign, turns=1)
    running = converse(person, campaign, turns=1, rating=None)
    collection_services.participant_withdraw(participant=person, campaign=campaign)
    assert set(
        Conversation.objects.filter(pk__in=[closed.pk, running.pk]).values_list(
            "withdrawn_at", flat=True
        )
    ) != {None}
    assert not Conversation.objects.filter(participant=person, withdrawn_at__isnull=True).exists()
    with pytest.raises(collection_services.ServiceError):
        conversation_writes.turn_save(
            participant=person, conversation_id=running.pk, token="x", judgement={}
        )


def test_settings_take_only_ones_own_endpoints_and_coherent_numbers(researcher, standin):
    campaign, _, endpoints = conversation_campaign(researcher, standin)
    theirs = make_endpoint(make_researcher(), standin, "theirs")
    cases = [
        ({"endpoint_ids": [endpoints[0].pk, theirs.pk]}, "endpoint_ids"),
        ({"endpoint_ids": [endpoints[0].pk]}, "endpoint_ids"),
        ({"replies_per_turn": 3}, "replies_per_turn"),
        ({"arena": True, "replies_per_turn": 3}, "replies_per_turn"),
        ({"max_calls_in_flight": 1}, "max_calls_in_flight"),
        ({"turn_limit": 0}, "turn_limit"),
        ({"token_budget": True}, "token_budget"),
    ]
    for change, field in cases:
        fields = {"endpoint_ids": [e.pk for e in endpoints], **change}
        with pytest.raises(collection_services.ServiceError) as refused:
            conversation_services.conversation_settings_save(
                campaign=campaign, user=researcher, **fields
            )
        assert refused.value.field == field, change


def test_calls_in_flight_are_limited_across_connections(transactional_db):
    """Another process's turn holds the campaign's places: a turn waits, then gives up
    with a message, and gets them once they are free."""
    held = threading.Event()
    release = threading.Event()

    def other_process():
        try:
            places = runtime.calls_take(campaign_id=991, count=2, limit=2, wait_s=1)
            held.set()
            release.wait(10)
            places.release()
        finally:
            connection.close()

    thread = threading.Thread(target=other_process)
    thread.start()
    assert held.wait(10)
    with pytest.raises(runtime.CallsBusy):
        runtime.calls_take(campaign_id=991, count=1, limit=2, wait_s=0.3)
    runtime.calls_take(campaign_id=992, count=2, limit=2, wait_s=0.3).release()  # others free
    release.set()
    thread.join(10)
    runtime.calls_take(campaign_id=991, count=2, limit=2, wait_s=2).release()


def test_the_readmes_seed_lines_import_as_documented(researcher, standin):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Conversation and arena campaigns")[1].split("\n## ")[0]
    (block,) = re.findall(r"```jsonl\n(.*?)```", section, flags=re.DOTALL)
    campaign, audience, _ = conversation_campaign(
        researcher, standin, seed_rows=[json.loads(line) for line in block.strip().splitlines()]
    )
    seeds = {item.external_id: item for item in campaign.items.all()}
    assert seeds["s1"].payload == {"opening": "given"}
    assert seeds["free-1"].payload == {"opening": "free"}
    person = ready_participant(audience=audience, campaign=campaign)
    # The second seed's system prompt and persona reach the models as one system message.
    for _ in range(3):
        conversation = begin(person, campaign)
        if conversation.item.external_id == "s2":
            break
        conversation_writes.conversation_skip(participant=person, conversation_id=conversation.pk)
    ask(person, conversation, "Start")
    assert standin.requests[-1]["messages"][0] == {
        "role": "system",
        "content": "You are a careful, practical assistant.\n\n"
        "Persona: You cook for a family of five on a tight budget.",
    }


def test_a_conversation_left_too_long_gives_way_once_its_seed_goes_to_someone_else(
    researcher, standin
):
    campaign, audience, _ = conversation_campaign(researcher, standin, seeds=1, k=1)
    person, other = (ready_participant(audience=audience, campaign=campaign) for _ in range(2))
    left = converse(person, campaign, turns=1, rating=None)
    past = timezone.now() - timedelta(minutes=1)

    def expire():
        Assignment.objects.filter(pk=left.assignment_id).update(expires_at=past)
        Slot.objects.filter(holder_id=left.assignment_id).update(lease_expires_at=past)

    # The lease ran out but nobody took the seed: still theirs, and asking renews it.
    expire()
    assert selectors.conversation_open_for(participant=person, campaign=campaign) == left
    assert ask(person, left)[-1]["event"] == "done"
    assert Assignment.objects.get(pk=left.assignment_id).expires_at > timezone.now()
    # Ran out again, and the seed went to someone else: it cannot go on.
    expire()
    assert begin(other, campaign).item_id == left.item_id
    assert selectors.conversation_open_for(participant=person, campaign=campaign) is None
    assert ask(person, left)[0]["event"] == "error"
    gone = conversation_services.conversation_begin(participant=person, campaign=campaign)
    assert isinstance(gone, collection_services.NoItem)


def test_asking_again_after_an_endpoint_is_removed_says_so_and_keeps_the_others(
    researcher, standin
):
    campaign, audience, endpoints = conversation_campaign(researcher, standin, endpoints=3)
    standin.set_behaviour("model-2", status=500)
    person = ready_participant(audience=audience, campaign=campaign)
    conversation = begin(person, campaign)
    ask(person, conversation)
    endpoints[2].delete()
    conversation.refresh_from_db()
    again = ask(person, conversation, retry=True)
    assert [e["message"] for e in again if e["event"] == "failed"] == [
        "The model is no longer available."
    ]
    assert again[-1]["can_judge"] and again[-1]["arrived"] == 2
