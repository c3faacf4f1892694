"""Releases of conversation and arena campaigns, built from turns judged through the
services against the stand-in model over real HTTP.

What a researcher would notice: per audience, a DPO row for every pair of every turn
with exactly the conversation up to that turn as its prompt; the edits as SFT rows;
one rating per conversation; an OpenAssistant-shaped tree per conversation; the
endpoints' Bradley–Terry strengths per audience and Kendall's τ between audiences;
deleted conversations absent; and `datasets` loading every config.
"""

from __future__ import annotations

import json
import os

import pytest

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection import conversations as conversation_writes
from collection import services as collection_services
from collection.models import Conversation, Turn
from endpoints.conversations import services as conversation_services
from endpoints.standin import StandinServer
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.helpers import STANDIN_KEY, conversation_campaign, events_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


@pytest.fixture
def standin():
    with StandinServer(api_key=STANDIN_KEY) as server:
        yield server


@pytest.fixture
def owner(db):
    return make_researcher(username="conversation-owner")


def build(campaign, owner, captured, releases_root):
    with captured(execute=True):
        job = jobs.export_job_create(campaign=campaign, created_by=owner, formats=["jsonl"])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return releases_root / job.release_path


def load(folder, name):
    import datasets

    os.environ["HF_HUB_OFFLINE"] = "1"
    return datasets.load_dataset(
        str(folder), name=name, cache_dir=str(folder.parent / ".hf-cache")
    )["train"]


def chat(person, campaign, messages, *, prefer=None, edits=None, rating=4) -> Conversation:
    """One conversation through the services: each message asked and judged (the reply
    of endpoint ``prefer`` when shown, else the first shown), ``edits`` by turn index;
    closed with ``rating`` (None: left open)."""
    conversation = conversation_services.conversation_begin(participant=person, campaign=campaign)
    for n, message in enumerate(messages):
        events = events_of(
            conversation_services.turn_ask(
                participant=person, conversation=conversation, message=message
            )
        )
        assert events[-1]["event"] == "done", events[-1]
        conversation.refresh_from_db()
        pending = conversation.pending
        source = {reply["id"]: reply["source"] for reply in pending["replies"]}
        choice = next((i for i in pending["shown"] if source[i] == prefer), pending["shown"][0])
        conversation_writes.turn_save(
            participant=person,
            conversation_id=conversation.pk,
            token=pending["token"],
            judgement={"choice": choice},
            edited_text=(edits or {}).get(n, ""),
        )
        conversation.refresh_from_db()
    if rating is not None:
        conversation = conversation_writes.conversation_close(
            participant=person, conversation_id=conversation.pk, rating=rating
        )
    return conversation


def names_in(folder) -> list[str]:
    header = (folder / "README.md").read_text().split("---")[1]
    return [line.split('"')[1] for line in header.splitlines() if "config_name" in line]


def test_every_turn_gives_dpo_rows_with_exactly_its_history_and_every_config_loads(
    owner, standin, releases_root, django_capture_on_commit_callbacks
):
    campaign, everyone, endpoints = conversation_campaign(
        owner, standin, endpoints=3, seeds=3, k=3, slug="talks"
    )
    nurses = AudienceFactory(slug="nurses", name="Nurses")
    collection_services.campaign_set_target(campaign=campaign, audience=nurses, overlap_k=3)
    alice = ready_participant(audience=everyone, campaign=campaign)
    edit = "My own better reply.\nWith a second line."
    kept = chat(alice, campaign, ["First?", "Second?", "Third?"], edits={1: edit}, rating=5)
    gone = chat(ready_participant(audience=everyone, campaign=campaign), campaign, ["Delete me?"])
    conversation_writes.conversation_delete(participant=gone.participant, conversation_id=gone.pk)
    chat(ready_participant(audience=nurses, campaign=campaign), campaign, ["Nurse here?"])

    folder = build(campaign, owner, django_capture_on_commit_callbacks, releases_root)

    names = names_in(folder)
    assert set(names) == {
        f"{audience}-{dataset}"
        for audience in ("everyone-talks", "nurses")
        for dataset in (
            "conversation-preferences",
            "conversation-ratings",
            "conversations",
            "participants",
        )
    } | {"everyone-talks-conversation-sft"}
    loaded = {name: load(folder, name) for name in names}
    assert all(len(rows) for rows in loaded.values())

    pairs = loaded["everyone-talks-conversation-preferences"]
    # Three replies shown each turn: a choice beats the two others, so two rows a turn.
    assert len(pairs) == 3 * 2 and sorted(pairs["turn"]) == [0, 0, 1, 1, 2, 2]
    turns = list(Turn.objects.filter(conversation=kept).order_by("index"))
    conversation = []  # what the models saw, rebuilt from the turns as they went on
    for turn in turns:
        conversation.append({"role": "user", "content": turn.message})
        rows = [row for row in pairs if row["turn"] == turn.index]
        assert all(row["prompt"] == conversation for row in rows), turn.index
        chosen = turn.reply(turn.chosen)
        assert {row["chosen"][0]["content"] for row in rows} == {chosen["text"]}
        others = {turn.reply(i)["text"] for i in turn.shown if i != turn.chosen}
        assert {row["rejected"][0]["content"] for row in rows} == others
        assert {row["chosen_source"] for row in rows} == {chosen["source"]}
        conversation.append({"role": "assistant", "content": turn.continuation})
    assert turns[2].history == conversation[:4]  # the edit carried the conversation on
    assert conversation[3]["content"] == edit
    assert "tie" not in pairs.column_names
    assert len({row["participant_id"] for row in pairs}) == 1
    assert "Delete me?" not in (folder / "everyone-talks" / "conversations.jsonl").read_text()

    sft = loaded["everyone-talks-conversation-sft"]
    assert len(sft) == 1 and sft[0]["completion"] == [{"role": "assistant", "content": edit}]
    assert sft[0]["messages"] == [*sft[0]["prompt"], *sft[0]["completion"]]
    assert sft[0]["original"] == turns[1].reply(turns[1].chosen)["text"]

    ratings = loaded["everyone-talks-conversation-ratings"]
    assert list(ratings["rating"]) == [5] and list(ratings["turns"]) == [3]
    assert ratings[0]["label"] is True and ratings[0]["messages"][-2:] == conversation[-2:]

    lines = (folder / "everyone-talks" / "conversations.jsonl").read_text().splitlines()
    assert len(lines) == 1
    tree = json.loads(lines[0])
    assert tree["tree_state"] == "ready_for_export" and tree["message_tree_id"]
    node, depth = tree["prompt"], 0
    while node is not None:
        assert node["role"] == "prompter" and node["text"] == turns[depth].message
        siblings = node["replies"]
        ranked = sorted((s for s in siblings if s["rank"] is not None), key=lambda s: s["rank"])
        assert [s["rank"] for s in ranked] == [0, 1, 1]
        assert ranked[0]["text"] == turns[depth].reply(turns[depth].chosen)["text"]
        assert all(s["parent_id"] == node["message_id"] for s in siblings)
        carrying = [s for s in siblings if s["replies"]]
        if depth == 1:
            assert [s["text"] for s in siblings if "edit_of" in s] == [edit]
            assert carrying[0]["text"] == edit
        node = carrying[0]["replies"][0] if carrying else None
        depth += 1
    assert depth == 3

    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    strengths = metrics["pluralism"]["bradley_terry"]
    assert set(strengths["everyone-talks"]) <= {endpoint.name for endpoint in endpoints}


def test_arena_releases_give_endpoint_strengths_per_audience_and_kendall_tau(
    owner, standin, releases_root, django_capture_on_commit_callbacks
):
    campaign, left, _ = conversation_campaign(
        owner,
        standin,
        endpoints=3,
        seeds=12,
        k=6,
        slug="arena",
        settings={"arena": True, "replies_per_turn": 2},
    )
    right = AudienceFactory(slug="right", name="Right")
    collection_services.campaign_set_target(campaign=campaign, audience=right, overlap_k=6)
    # The left audience prefers model-0 over model-1 over model-2; the right the reverse.
    order = {"model-0": 0, "model-1": 1, "model-2": 2}
    for audience, sign in ((left, 1), (right, -1)):
        person = ready_participant(audience=audience, campaign=campaign)
        for n in range(6):
            conversation = conversation_services.conversation_begin(
                participant=person, campaign=campaign
            )
            events_of(
                conversation_services.turn_ask(
                    participant=person, conversation=conversation, message=f"My prompt {n}"
                )
            )
            conversation.refresh_from_db()
            pending = conversation.pending
            source = {reply["id"]: reply["source"] for reply in pending["replies"]}
            best = min(pending["shown"], key=lambda i: sign * order[source[i]])
            conversation_writes.turn_save(
                participant=person,
                conversation_id=conversation.pk,
                token=pending["token"],
                judgement={"choice": best},
            )
            conversation_writes.conversation_close(
                participant=person, conversation_id=conversation.pk, rating=3
            )

    folder = build(campaign, owner, django_capture_on_commit_callbacks, releases_root)
    pluralism = json.loads((folder / "metrics.json").read_text())["metrics"]["pluralism"]
    strengths = pluralism["bradley_terry"]
    for slug, sign in ((left.slug, 1), (right.slug, -1)):
        ranked = sorted(strengths[slug], key=lambda name: -sign * strengths[slug][name])
        assert ranked == ["model-0", "model-1", "model-2"], (slug, strengths[slug])
    # τ over the three endpoints both audiences ranked (the support the card prints).
    assert pluralism["kendall_tau"] == [
        {"audience_a": left.slug, "audience_b": right.slug, "tau": -1.0, "shared_sources": 3}
    ]
    readme = (folder / "README.md").read_text()
    assert "Bradley–Terry" in readme and "Kendall" in readme
    for name in names_in(folder):
        assert len(load(folder, name))


def test_conversation_dpo_rows_hold_no_ties_and_every_person_is_listed(
    owner, standin, releases_root, django_capture_on_commit_callbacks
):
    """Replies rated alike go to `-conversation-ties` (in the order shown), never into the
    DPO config, and the card counts both; `participants` has one row per person with the
    conversations they closed."""
    campaign, everyone, _ = conversation_campaign(
        owner,
        standin,
        endpoints=3,
        seeds=2,
        k=2,
        slug="rated",
        preference_format="rating",
        rating_min=1,
        rating_max=5,
    )
    people = [ready_participant(audience=everyone, campaign=campaign) for _ in range(2)]
    for n, person in enumerate(people):
        conversation = conversation_services.conversation_begin(
            participant=person, campaign=campaign
        )
        for turn in range(2):
            events_of(
                conversation_services.turn_ask(
                    participant=person, conversation=conversation, message=f"Ask {n}-{turn}"
                )
            )
            conversation.refresh_from_db()
            shown = conversation.pending["shown"]
            # Turn 0: the first two shown rated alike (a tie), the third lower; turn 1: all
            # different.
            scores = [4, 4, 2] if turn == 0 else [5, 3, 1]
            conversation_writes.turn_save(
                participant=person,
                conversation_id=conversation.pk,
                token=conversation.pending["token"],
                judgement={"ratings": dict(zip(shown, scores, strict=True))},
            )
            conversation.refresh_from_db()
        conversation_writes.conversation_close(
            participant=person, conversation_id=conversation.pk, rating=4
        )

    folder = build(campaign, owner, django_capture_on_commit_callbacks, releases_root)
    pairs = load(folder, "everyone-rated-conversation-preferences")
    ties = load(folder, "everyone-rated-conversation-ties")
    # Per person, three pairs a turn: one tie at turn 0, so 2 + 3 strict pairs.
    assert len(pairs) == 2 * 5 and len(ties) == 2
    assert "tie" not in pairs.column_names and "chosen" not in ties.column_names
    assert set(ties["turn"]) == {0}
    turns = {t.conversation.participant_id: t for t in Turn.objects.filter(index=0)}
    for row in ties:
        turn = next(t for t in turns.values() if t.message == row["prompt"][-1]["content"])
        assert [row["completion_a"][0]["content"], row["completion_b"][0]["content"]] == [
            turn.reply(i)["text"] for i in turn.shown[:2]
        ]
    card = " ".join((folder / "README.md").read_text().split())
    assert (
        "`everyone-rated`: 10 strict pairs; 2 tied pairs left out of every DPO config "
        "(in `everyone-rated-conversation-ties`)." in card
    )
    listed = load(folder, "everyone-rated-participants")
    assert sorted(listed["judgements"]) == [1, 1]
    assert set(listed["participant_id"]) == set(pairs["participant_id"])
