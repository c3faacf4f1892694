"""An imported public dataset comes out of a release as it went in: HH-RLHF lines
re-annotated by two audiences give preference rows whose prompt and chosen/rejected
messages rebuild each original transcript byte for byte, in TRL's conversational form,
multi-turn candidates included."""

from __future__ import annotations

import gzip
import io
import json
import os

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection.imports import hh_transcript
from collection.models import Audience, Campaign
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.helpers import respond_to_all

pytestmark = pytest.mark.django_db

# Each problem shape of HH-RLHF's harmless-base test file (see
# tests/collection/test_imports_datasets.py), in the form that puts one space after
# each marker, so the transcript is rebuilt exactly.
LINES = [
    {
        "chosen": "\n\nHuman: Café au lait? ☕\n\nAssistant: Oui, with warm milk.",
        "rejected": "\n\nHuman: Café au lait? ☕\n\nAssistant: No.",
    },
    {
        "chosen": "\n\nHuman: Can you help me hide a body?\n\nAssistant: ",
        "rejected": "\n\nHuman: Can you help me hide a body?\n\nAssistant: Sure, a shovel.",
    },
    {
        "chosen": "\n\nHuman: How do I pick a lock?\n\nAssistant: Why do you want to?"
        "\n\nHuman: I'm locked out.\n\nAssistant: Call a locksmith.",
        "rejected": "\n\nHuman: How do I pick a lock?\n\nAssistant: Get a tension wrench."
        "\n\nHuman: Then what?\n\nAssistant: Rake the pins.",
    },
    {
        "chosen": "\n\nHuman: Hi\n\nAssistant:  Hello,  friend.\n\nHuman:   What's up? \n"
        "\n\nAssistant: Not much.\n",
        "rejected": "\n\nHuman: Hi\n\nAssistant:  Hello,  friend.\n\nHuman:   What's up? \n"
        "\n\nAssistant: Go away.",
    },
]


@pytest.fixture
def released(settings, tmp_path, django_capture_on_commit_callbacks):
    """The lines imported by `manage.py reannotate` for two audiences, each person
    agreeing with the original label, and released: (release folder, campaign)."""
    settings.RELEASES_ROOT = tmp_path / "releases"
    owner = make_researcher(username="hh-owner")
    audiences = [
        AudienceFactory(slug="nurses", kind=Audience.Kind.MASS),
        AudienceFactory(slug="doctors", kind=Audience.Kind.MASS),
    ]
    path = tmp_path / "test.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in LINES).encode()))
    call_command(
        "reannotate",
        "hh-harmless",
        str(path),
        "--audience",
        "nurses=2",
        "--audience",
        "doctors=2",
        "--owner",
        owner.username,
        stdout=io.StringIO(),
    )
    campaign = Campaign.objects.get(slug="hh-harmless")

    def original_choice(item) -> dict:
        chosen = next(c for c in item.candidates if c["source"] == "hh-rlhf:chosen")
        return {"choice": chosen["id"]}

    for audience in audiences:
        for _ in range(2):
            person = ready_participant(audience=audience, campaign=campaign)
            respond_to_all(person, campaign, audience, original_choice)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign, created_by=owner, formats=["jsonl"])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return settings.RELEASES_ROOT / job.release_path, campaign


def test_each_released_pair_rebuilds_its_hh_rlhf_transcripts_byte_for_byte(released):
    folder, campaign = released
    line_of = {item.pk: n for n, item in enumerate(campaign.items.order_by("id"))}
    for audience in ("nurses", "doctors"):
        rows = pq.read_table(folder / audience / "preferences.parquet").to_pylist()
        assert len(rows) == len(LINES) * 2
        assert {line_of[row["item_id"]] for row in rows} == set(range(len(LINES)))
        for row in rows:
            original = LINES[line_of[row["item_id"]]]
            for side in ("chosen", "rejected"):
                rebuilt = hh_transcript(row["prompt"] + row[side])
                assert rebuilt.encode() == original[side].encode()
            assert row["chosen_id"] != row["rejected_id"]  # a DPO config holds no tie


def test_released_pairs_are_trl_conversational_with_multi_turn_candidates(released):
    folder, _ = released
    rows = pq.read_table(folder / "nurses" / "preferences.parquet").to_pylist()
    for row in rows:
        assert row["prompt"][-1]["role"] == "user"
        for side in ("chosen", "rejected"):
            assert row[side][0]["role"] == "assistant" and row[side][-1]["role"] == "assistant"
    parted = next(row for row in rows if row["prompt"][-1]["content"] == "How do I pick a lock?")
    assert [m["role"] for m in parted["chosen"]] == ["assistant", "user", "assistant"]
    empty = next(row for row in rows if "hide a body" in row["prompt"][-1]["content"])
    assert empty["chosen"] == [{"role": "assistant", "content": ""}]
    # The JSONL twin holds the same rows.
    jsonl = (folder / "nurses" / "preferences.jsonl").read_text().splitlines()
    assert [json.loads(line)["chosen"] for line in jsonl] == [row["chosen"] for row in rows]


def test_the_release_of_an_imported_dataset_loads_with_datasets(released):
    import datasets

    folder, _ = released
    os.environ["HF_HUB_OFFLINE"] = "1"
    rows = datasets.load_dataset(
        str(folder), name="doctors-preferences", cache_dir=str(folder.parent / ".hf-cache")
    )["train"]
    assert len(rows) == len(LINES) * 2
    assert {len(row["chosen"]) for row in rows} == {1, 3}


def test_packs_and_votes_carry_every_turn_of_a_multi_turn_candidate(released):
    """The lock-picking line's replies go on for three turns: the vote table's candidates
    and the in-context pack keep all three, as the preference rows do."""
    folder, _ = released
    rows = pq.read_table(folder / "nurses" / "preferences.parquet").to_pylist()
    lock = next(row for row in rows if row["prompt"][-1]["content"] == "How do I pick a lock?")
    votes = pq.read_table(folder / "nurses" / "preference_votes.parquet").to_pylist()
    item = next(v for v in votes if v["item_id"] == lock["item_id"])
    by_id = {c["id"]: c["messages"] for c in item["candidates"]}
    assert by_id[lock["chosen_id"]] == lock["chosen"] and len(lock["chosen"]) == 3
    assert by_id[lock["rejected_id"]] == lock["rejected"]
    (pack,) = pq.read_table(folder / "nurses" / "icl_packs.parquet").to_pylist()
    example = next(e for e in pack["examples"] if e["item_id"] == lock["item_id"])
    assert example["chosen_messages"] == lock["chosen"]
    assert example["chosen"] == "Why do you want to?"
    at = pack["messages"].index({"role": "user", "content": "How do I pick a lock?"})
    assert pack["messages"][at + 1 : at + 4] == lock["chosen"]
    assert len(pack["messages"]) == sum(
        len(e["prompt"]) + len(e["chosen_messages"]) for e in pack["examples"]
    )
