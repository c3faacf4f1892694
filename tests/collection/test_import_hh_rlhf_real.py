"""The real hh-rlhf `harmless-base/test.jsonl.gz` (tests/data/hh-rlhf, MIT, from
Anthropic's repository) imports whole in one command with its report; every prompt
and candidate rebuilds its line's transcripts byte for byte; a re-annotation over two
audiences gives a release whose DPO configs hold no ties and that `datasets` loads."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection.imports import hh_transcript
from collection.models import Audience, Campaign, Item, Response
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.helpers import answer_all, respond

pytestmark = pytest.mark.django_db

REAL_FILE = Path(__file__).resolve().parents[1] / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
SHA256 = "ebfaaed21162a4de120ae85366075b34425e2a6303fac59b99555002f7016f03"
# Counted in the file itself (tests/data/hh-rlhf/README.md lists the lines).
EMPTY_REPLY_LINES = [87, 517, 926, 1104]
PARTING_LINES = [1255, 1689, 1951, 1953, 2037]
LEADING_SPACE_LINES = [668, 764, 1255, 1320, 1850, 1951, 1953, 2037]
JUDGED_BY_THE_ENGINE = 6  # items each person answers through the engine (the first ones)


def real_lines() -> list[dict]:
    raw = REAL_FILE.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SHA256
    return [json.loads(line) for line in gzip.decompress(raw).decode().splitlines()]


def reannotate(owner) -> tuple[Campaign, str]:
    AudienceFactory(slug="nurses", kind=Audience.Kind.MASS)
    AudienceFactory(slug="doctors", kind=Audience.Kind.MASS)
    out = io.StringIO()
    call_command(
        "reannotate",
        "hh-harmless",
        str(REAL_FILE),
        "--audience",
        "nurses=2",
        "--audience",
        "doctors=2",
        "--owner",
        owner.username,
        stdout=out,
    )
    return Campaign.objects.get(slug="hh-harmless"), out.getvalue()


def conversation(item: Item, candidate: dict) -> list[dict]:
    """The whole conversation an item's candidate ends, as {role, content} turns."""
    history = [
        *((item.context or {}).get("messages") or []),
        {"role": "user", "content": item.prompt},
    ]
    reply = candidate.get("messages") or [{"role": "assistant", "content": candidate["text"]}]
    return history + reply


def test_the_whole_real_file_imports_in_one_command_with_its_report():
    owner = make_researcher(username="hh-owner")
    campaign, printed = reannotate(owner)
    assert "Imported 2312 items into hh-harmless (format hh-rlhf)." in printed
    assert "Read 2312 lines." in printed
    assert "5 items with a multi-turn candidate (the conversations part early)." in printed
    assert "4 empty replies, kept as empty candidates." in printed
    assert "8 items with a text that begins with a space, kept as it is." in printed
    assert "Campaign hh-harmless is open, for nurses (k=2), doctors (k=2)." in printed
    lines = real_lines()
    items = list(campaign.items.order_by("id"))
    assert len(items) == len(lines) == 2_312
    empty, parting = [], []
    for number, (line, item) in enumerate(zip(lines, items, strict=True), start=1):
        for candidate in item.candidates:
            side = candidate["source"].removeprefix("hh-rlhf:")
            rebuilt = hh_transcript(conversation(item, candidate))
            assert rebuilt.encode() == line[side].encode(), (number, side)
            if candidate["text"] == "":
                empty.append(number)
            if len(candidate.get("messages") or ()) > 1:
                parting.append(number)
        assert {c["source"] for c in item.candidates} == {"hh-rlhf:chosen", "hh-rlhf:rejected"}
    assert empty == EMPTY_REPLY_LINES
    assert parting == PARTING_LINES


@pytest.fixture
def released(settings, tmp_path, django_capture_on_commit_callbacks):
    """The real file re-annotated by two audiences and released: (folder, campaign, lines).

    Two people per audience answer the first items through the engine (one siding with
    the original label, one calling its first item, the engine's 7th, a tie); the odd
    lines (empty replies, early partings) are far down the engine's order, so their
    judgements are stored as the engine validates them (tests.helpers.respond)."""
    settings.RELEASES_ROOT = tmp_path / "releases"
    owner = make_researcher(username="hh-owner")
    campaign, _ = reannotate(owner)
    items = list(campaign.items.order_by("id"))
    odd = [items[n - 1] for n in EMPTY_REPLY_LINES + PARTING_LINES]

    def original(item) -> dict:
        return {"choice": next(c["id"] for c in item.candidates if c["source"].endswith("chosen"))}

    tied: list[int] = []

    def ties_first(item) -> dict:
        if not tied or tied[-1] == item.pk:
            tied.append(item.pk)
            return {"choice": "tie"}
        return original(item)

    for audience in Audience.objects.filter(slug__in=["nurses", "doctors"]):
        for choose in (original, ties_first):
            tied.clear()
            person = ready_participant(audience=audience, campaign=campaign)
            assert answer_all(person, campaign, choose, limit=JUDGED_BY_THE_ENGINE) == 6
            respond(person, campaign, audience, odd, original)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign, created_by=owner, formats=["jsonl"])
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return settings.RELEASES_ROOT / job.release_path, campaign, real_lines()


def test_a_reannotation_of_the_real_file_releases_dpo_pairs_without_ties(released):
    folder, campaign, lines = released
    line_of = {item.pk: n for n, item in enumerate(campaign.items.order_by("id"))}
    judged = JUDGED_BY_THE_ENGINE + len(EMPTY_REPLY_LINES) + len(PARTING_LINES)
    assert Response.objects.filter(campaign=campaign).count() == judged * 4
    for audience in ("nurses", "doctors"):
        rows = pq.read_table(folder / audience / "preferences.parquet").to_pylist()
        assert len(rows) == judged * 2 - 1  # the one tie is left out
        assert all(row["chosen_id"] != row["rejected_id"] for row in rows)
        for row in rows:
            original = lines[line_of[row["item_id"]]]
            for side in ("chosen", "rejected"):
                # Everyone here sided with the original label, so "chosen" is hh-rlhf's.
                rebuilt = hh_transcript(row["prompt"] + row[side])
                assert rebuilt.encode() == original[side].encode()
        ties = pq.read_table(folder / audience / "ties.parquet").to_pylist()
        # The engine serves breadth-first: the second person's first item is the 7th.
        assert [line_of[row["item_id"]] for row in ties] == [JUDGED_BY_THE_ENGINE]
    parted = {len(row["chosen"]) + len(row["rejected"]) for row in rows}
    assert 3 in parted  # a two-turn candidate beside a one-turn one


def test_the_release_of_the_real_file_loads_with_datasets_per_audience(released):
    import datasets  # here, not at the top: it is slow to import and only this test needs it

    folder, _, _ = released
    os.environ["HF_HUB_OFFLINE"] = "1"
    judged = JUDGED_BY_THE_ENGINE + len(EMPTY_REPLY_LINES) + len(PARTING_LINES)
    for audience in ("nurses", "doctors"):
        rows = datasets.load_dataset(
            str(folder), name=f"{audience}-preferences", cache_dir=str(folder.parent / ".hf")
        )["train"]
        assert len(rows) == judged * 2 - 1
        assert "" in {row["chosen"][-1]["content"] for row in rows}  # an empty reply, kept
