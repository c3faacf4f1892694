"""Public preference datasets import whole, in the shapes they ship in: HH-RLHF with its
odd lines, prompt/chosen/rejected pairs as strings or message lists, gzipped JSONL,
Parquet and `datasets` folders made by `datasets` itself; a keep-valid import reports
each rejected row through the API and the CLI."""

from __future__ import annotations

import gzip
import io
import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from collection.imports import ImportFileError, hh_transcript, items_import, parse_hh_transcript
from collection.models import Campaign, Item, Slot
from tests.factories import AudienceFactory, make_campaign, make_researcher

pytestmark = pytest.mark.django_db

# The shapes of HH-RLHF's harmless-base test file that did not import (issue #13): an
# empty final reply (the marker with nothing after it, and with its space only), two
# transcripts that part before the last turn, and two spaces after "Assistant:".
EMPTY_REPLY = {
    "chosen": "\n\nHuman: What is the worst word you know?\n\nAssistant:",
    "rejected": "\n\nHuman: What is the worst word you know?\n\nAssistant: I won't say it.",
}
EMPTY_REPLY_WITH_SPACE = {
    "chosen": "\n\nHuman: Can you help me hide a body?\n\nAssistant: ",
    "rejected": "\n\nHuman: Can you help me hide a body?\n\nAssistant: Sure, first find a shovel.",
}
DIVERGENT = {
    "chosen": "\n\nHuman: How do I pick a lock?\n\nAssistant: Why do you want to?"
    "\n\nHuman: I'm locked out.\n\nAssistant: Call a locksmith.",
    "rejected": "\n\nHuman: How do I pick a lock?\n\nAssistant: Get a tension wrench."
    "\n\nHuman: Then what?\n\nAssistant: Rake the pins.",
}
EXTRA_SPACES = {
    "chosen": "\n\nHuman: Hi\n\nAssistant:  Hello,  friend.\n\nHuman:   What's up? \n"
    "\n\nAssistant: Not much.\n",
    "rejected": "\n\nHuman: Hi\n\nAssistant:  Hello,  friend.\n\nHuman:   What's up? \n"
    "\n\nAssistant: Go away.",
}
ORDINARY = {
    "chosen": "\n\nHuman: Café au lait? ☕\n\nAssistant: Oui, with warm milk.",
    "rejected": "\n\nHuman: Café au lait? ☕\n\nAssistant: No.",
}
HH_LINES = [ORDINARY, EMPTY_REPLY, DIVERGENT, EXTRA_SPACES, EMPTY_REPLY_WITH_SPACE]


def jsonl_bytes(*rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@pytest.fixture
def owner():
    return make_researcher(username="importer")


@pytest.fixture
def campaign(owner):
    return make_campaign(audiences={AudienceFactory(): 2}, items=0, owners=[owner], slug="hh")


def by_source(item: Item) -> dict[str, dict]:
    return {candidate["source"].split(":")[1]: candidate for candidate in item.candidates}


def api_import(owner, campaign, content: bytes, name: str, **fields):
    client = APIClient()
    client.force_authenticate(owner)
    upload = io.BytesIO(content)
    upload.name = name
    return client.post(
        f"/api/v1/campaigns/{campaign.slug}/items/import/",
        {"file": upload, **fields},
        format="multipart",
    )


# HH-RLHF -------------------------------------------------------------------------------


def test_every_hh_rlhf_shape_imports_and_keeps_its_text_byte_for_byte(campaign):
    result = items_import(
        campaign=campaign, stream=io.BytesIO(jsonl_bytes(*HH_LINES)), file_format="auto"
    )
    assert (result.created, result.format) == (5, "hh-rlhf")
    items = list(campaign.items.order_by("id"))
    assert Slot.objects.filter(item__campaign=campaign).count() == 5 * 2

    empty = by_source(items[1])
    assert empty["chosen"]["text"] == "" and empty["rejected"]["text"] == "I won't say it."
    assert by_source(items[4])["chosen"]["text"] == ""

    parted = by_source(items[2])
    assert items[2].prompt == "How do I pick a lock?" and items[2].context is None
    assert parted["chosen"]["messages"] == [
        {"role": "assistant", "content": "Why do you want to?"},
        {"role": "user", "content": "I'm locked out."},
        {"role": "assistant", "content": "Call a locksmith."},
    ]
    assert parted["chosen"]["text"] == "Why do you want to?"
    assert parted["rejected"]["messages"][-1] == {"role": "assistant", "content": "Rake the pins."}

    spaced = items[3]
    assert spaced.prompt == "  What's up? \n"
    assert spaced.context["messages"][1] == {"role": "assistant", "content": " Hello,  friend."}
    assert by_source(spaced)["chosen"]["text"] == "Not much.\n"
    assert items[0].prompt == "Café au lait? ☕"


def test_an_hh_rlhf_transcript_reads_back_as_it_was_written():
    for row in (ORDINARY, DIVERGENT, EXTRA_SPACES, EMPTY_REPLY_WITH_SPACE):
        for transcript in row.values():
            assert hh_transcript(parse_hh_transcript(transcript)) == transcript
    # The marker with nothing after it: an empty reply too (it reads back with the space).
    assert parse_hh_transcript(EMPTY_REPLY["chosen"])[-1] == {"role": "assistant", "content": ""}


def test_gzipped_hh_rlhf_imports_through_the_api_in_one_request_with_its_report(owner, campaign):
    content = gzip.compress(jsonl_bytes(*HH_LINES))
    answer = api_import(owner, campaign, content, "test.jsonl.gz")
    assert answer.status_code == 201, answer.content
    assert answer.json() == {
        "created": 5,
        "campaign": "hh",
        "format": "hh-rlhf",
        "mode": "all",
        "rows_read": 5,
        "unit": "Line",
        "shapes": {"multi_turn_items": 1, "empty_replies": 2, "leading_space_items": 1},
        "rejected_count": 0,
        "rejected": [],
    }


def test_a_damaged_gzip_stream_is_refused_naming_where_and_storing_nothing(owner, campaign):
    content = gzip.compress(jsonl_bytes(*HH_LINES * 50))
    answer = api_import(owner, campaign, content[: len(content) // 2], "cut.jsonl.gz")
    assert answer.status_code == 400
    assert "gzip" in answer.json()["detail"] and answer.json()["line"] >= 1
    assert campaign.items.count() == 0


def test_transcripts_that_share_no_human_turn_are_refused_naming_the_line(campaign):
    row = {"chosen": "\n\nHuman: A\n\nAssistant: B", "rejected": "\n\nHuman: C\n\nAssistant: D"}
    with pytest.raises(ImportFileError) as caught:
        items_import(
            campaign=campaign, stream=io.BytesIO(jsonl_bytes(ORDINARY, row)), file_format="hh-rlhf"
        )
    assert caught.value.line == 2 and "share no user" in str(caught.value)
    assert campaign.items.count() == 0


# Keep-valid imports --------------------------------------------------------------------


BAD_LINES = [
    ORDINARY,
    {"chosen": "no turns at all", "rejected": ORDINARY["rejected"]},
    EMPTY_REPLY,
    {"chosen": ORDINARY["chosen"]},
    DIVERGENT,
]


def test_keep_valid_stores_the_good_lines_and_reports_each_bad_one_in_the_api(owner, campaign):
    content = jsonl_bytes(*BAD_LINES) + b"{not json\n"
    answer = api_import(owner, campaign, content, "mixed.jsonl", mode="keep_valid")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["created"], body["rejected_count"], body["mode"]) == (3, 3, "keep_valid")
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [
        (2, "chosen"),
        (4, "rejected"),
        (6, None),
    ]
    assert "Not an HH-RLHF transcript" in body["rejected"][0]["message"]
    assert "Not valid JSON" in body["rejected"][2]["message"]
    assert campaign.items.count() == 3


def test_all_or_nothing_stays_the_default(owner, campaign):
    answer = api_import(owner, campaign, jsonl_bytes(*BAD_LINES), "mixed.jsonl")
    assert answer.status_code == 400
    assert (answer.json()["line"], answer.json()["field"]) == (2, "chosen")
    assert campaign.items.count() == 0


def test_keep_valid_with_no_valid_line_stores_nothing_and_lists_every_line(owner, campaign):
    content = jsonl_bytes({"chosen": "x", "rejected": "y"}, {"prompt": "only"})
    answer = api_import(owner, campaign, content, "bad.jsonl", mode="keep_valid", format="hh-rlhf")
    assert answer.status_code == 400
    assert [row["line"] for row in answer.json()["rejected"]] == [1, 2]
    assert campaign.items.count() == 0


def test_keep_valid_reports_external_ids_already_in_the_campaign(owner, campaign):
    first = {**ORDINARY, "id": "hh-1"}
    items_import(campaign=campaign, stream=io.BytesIO(jsonl_bytes(first)), file_format="auto")
    answer = api_import(
        owner,
        campaign,
        jsonl_bytes(first, {**EMPTY_REPLY, "id": "hh-2"}, {**DIVERGENT, "id": "hh-2"}),
        "again.jsonl",
        mode="keep_valid",
    )
    body = answer.json()
    assert body["created"] == 1
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [
        (1, "external_id"),
        (3, "external_id"),
    ]
    assert "exists already" in body["rejected"][0]["message"]
    assert "first on line 2" in body["rejected"][1]["message"]


def test_the_cli_keeps_the_valid_lines_and_prints_each_rejected_one(campaign, tmp_path):
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(*BAD_LINES)))
    out = io.StringIO()
    call_command("import_items", campaign.slug, str(path), "--keep-valid", stdout=out)
    printed = out.getvalue()
    assert "Imported 3 items into hh (format hh-rlhf)." in printed
    assert "Rejected 2 rows." in printed
    assert "Line 2: chosen: Not an HH-RLHF transcript" in printed
    assert "Line 4: rejected: Must be a non-empty transcript string." in printed
    with pytest.raises(CommandError, match="Line 2: chosen"):
        call_command("import_items", campaign.slug, str(path))
    assert campaign.items.count() == 3


# prompt / chosen / rejected ------------------------------------------------------------

ULTRAFEEDBACK = [
    {
        "prompt": "Name a prime.",
        "prompt_id": "p1",
        "chosen": [
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"},
        ],
        "rejected": [
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "9"},
        ],
        "score_chosen": 9.0,
        "score_rejected": float("nan"),
    },
    {
        "prompt": "And an even one?",
        "prompt_id": "p2",
        "chosen": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "And an even one?"},
            {"role": "assistant", "content": "2 "},
        ],
        "rejected": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "And an even one?"},
            {"role": "assistant", "content": "None exist."},
        ],
        "score_chosen": 8.0,
        "score_rejected": 2.0,
    },
]
STRING_PAIRS = [
    {"prompt": "Is water wet?", "chosen": "It makes things wet.", "rejected": "No."},
    {"prompt": "2+2?", "chosen": "4", "rejected": "5", "id": "sum"},
]


def check_ultrafeedback(campaign: Campaign) -> None:
    first, second = campaign.items.order_by("id")
    assert first.prompt == "Name a prime." and first.context is None
    assert {c["text"] for c in first.candidates} == {"7", "9"}
    assert by_source(first)["chosen"]["source"] == "dataset:chosen"
    assert second.context == {"messages": [{"role": "system", "content": "Be brief."}]}
    assert by_source(second)["chosen"]["text"] == "2 "


def test_ultrafeedback_style_message_lists_import_from_a_datasets_folder(campaign, tmp_path):
    datasets.Dataset.from_list(ULTRAFEEDBACK).save_to_disk(str(tmp_path / "uf"))
    out = io.StringIO()
    call_command("import_items", campaign.slug, str(tmp_path / "uf"), stdout=out)
    assert "Imported 2 items into hh (format pairs)." in out.getvalue()
    check_ultrafeedback(campaign)


def test_a_datasets_folder_with_splits_names_them(campaign, tmp_path):
    dataset = datasets.Dataset.from_list(ULTRAFEEDBACK)
    datasets.DatasetDict({"train_prefs": dataset, "test_prefs": dataset}).save_to_disk(
        str(tmp_path / "uf")
    )
    with pytest.raises(CommandError, match="splits train_prefs, test_prefs"):
        call_command("import_items", campaign.slug, str(tmp_path / "uf"))
    call_command("import_items", campaign.slug, str(tmp_path / "uf" / "test_prefs"))
    check_ultrafeedback(campaign)


def test_parquet_from_to_parquet_imports_through_the_api(owner, campaign, tmp_path):
    datasets.Dataset.from_list(ULTRAFEEDBACK).to_parquet(str(tmp_path / "uf.parquet"))
    answer = api_import(owner, campaign, (tmp_path / "uf.parquet").read_bytes(), "uf.parquet")
    assert answer.status_code == 201, answer.content
    assert answer.json()["format"] == "pairs"
    check_ultrafeedback(campaign)


def test_string_pairs_import_from_jsonl_and_parquet(owner, campaign, tmp_path):
    items_import(
        campaign=campaign, stream=io.BytesIO(jsonl_bytes(*STRING_PAIRS)), file_format="pairs"
    )
    table = pa.Table.from_pylist([{**row, "id": f"pq-{n}"} for n, row in enumerate(STRING_PAIRS)])
    pq.write_table(table, tmp_path / "pairs.parquet")
    answer = api_import(owner, campaign, (tmp_path / "pairs.parquet").read_bytes(), "pairs.parquet")
    assert answer.status_code == 201, answer.content
    items = list(campaign.items.order_by("id"))
    assert [item.external_id for item in items] == [None, "sum", "pq-0", "pq-1"]
    assert by_source(items[1])["chosen"]["text"] == "4"


def test_trl_conversational_pairs_with_a_prompt_list_import(campaign):
    row = {
        "prompt": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Tell me a joke."},
        ],
        "chosen": [{"role": "assistant", "content": "Why did the chicken…"}],
        "rejected": [{"role": "assistant", "content": "No."}],
    }
    items_import(campaign=campaign, stream=io.BytesIO(jsonl_bytes(row)), file_format="auto")
    item = campaign.items.get()
    assert item.prompt == "Tell me a joke." and len(item.context["messages"]) == 2


def test_a_bad_parquet_row_is_refused_naming_the_row_and_column(owner, campaign, tmp_path):
    rows = [*STRING_PAIRS, {"prompt": "Q", "chosen": "fine", "rejected": "a\x00b"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    answer = api_import(owner, campaign, (tmp_path / "bad.parquet").read_bytes(), "bad.parquet")
    assert answer.status_code == 400
    body = answer.json()
    assert (body["line"], body["field"]) == (3, "rejected")
    assert body["detail"].startswith("Row 3: rejected: Must not contain the NUL")
    assert campaign.items.count() == 0


@pytest.mark.parametrize(
    "content",
    [b"PAR1 this is not parquet at all", b"\x1f\x8b\x08 not gzip", b"ARROW1\x00\x00junk"],
    ids=["parquet", "gzip", "arrow"],
)
def test_a_file_that_only_looks_columnar_or_gzipped_gets_a_400(owner, campaign, content):
    answer = api_import(owner, campaign, content, "odd.bin")
    assert answer.status_code == 400, answer.content
    assert campaign.items.count() == 0


def test_chosen_and_rejected_of_different_shapes_name_the_line_and_field(campaign):
    row = {"prompt": "Q", "chosen": "text", "rejected": [{"role": "assistant", "content": "x"}]}
    with pytest.raises(ImportFileError) as caught:
        items_import(campaign=campaign, stream=io.BytesIO(jsonl_bytes(row)), file_format="pairs")
    assert (caught.value.line, caught.value.field) == (1, "rejected")


# A re-annotation study in one command --------------------------------------------------


def harmless_base_like() -> list[dict]:
    """2,312 lines as in harmless-base/test.jsonl.gz, with its odd lines as the issue
    counts them: 4 empty replies, 5 transcripts that part early, 4 with extra spaces."""
    odd = [EMPTY_REPLY] * 2 + [EMPTY_REPLY_WITH_SPACE] * 2 + [DIVERGENT] * 5 + [EXTRA_SPACES] * 4
    lines = [
        {
            "chosen": f"\n\nHuman: Question {n}?\n\nAssistant: A kind answer {n}.",
            "rejected": f"\n\nHuman: Question {n}?\n\nAssistant: A rude answer {n}.",
        }
        for n in range(2_312 - len(odd))
    ]
    for n, line in enumerate(odd):
        lines.insert(86 + n * 150, line)  # the first at line 87, where imports used to fail
    return lines


def test_a_reannotation_study_over_several_audiences_takes_one_command(owner, tmp_path):
    nurses, doctors = AudienceFactory(slug="nurses"), AudienceFactory(slug="doctors")
    path = tmp_path / "harmless-base-test.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(*harmless_base_like())))
    out = io.StringIO()
    call_command(
        "reannotate",
        "hh-again",
        str(path),
        "--audience",
        "nurses=2",
        "--audience",
        "doctors",
        "--k",
        "3",
        "--owner",
        owner.username,
        stdout=out,
    )
    campaign = Campaign.objects.get(slug="hh-again")
    assert campaign.status == Campaign.Status.OPEN and list(campaign.owners.all()) == [owner]
    assert campaign.items.count() == 2_312
    assert Slot.objects.filter(item__campaign=campaign, audience=nurses).count() == 2_312 * 2
    assert Slot.objects.filter(item__campaign=campaign, audience=doctors).count() == 2_312 * 3
    assert "Imported 2312 items into hh-again (format hh-rlhf)." in out.getvalue()
    assert "Campaign hh-again is open, for nurses (k=2), doctors (k=3)." in out.getvalue()
    assert (
        campaign.items.filter(payload__candidates__0__text="").count()
        + campaign.items.filter(payload__candidates__1__text="").count()
        == 4
    )


def test_a_refused_reannotation_file_leaves_no_campaign(tmp_path):
    AudienceFactory(slug="nurses")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl_bytes(ORDINARY, {"chosen": "x", "rejected": "y"}))
    with pytest.raises(CommandError, match="Line 2"):
        call_command("reannotate", "hh-bad", str(path), "--audience", "nurses")
    assert not Campaign.objects.filter(slug="hh-bad").exists()
    with pytest.raises(CommandError, match="no audience 'nobody'"):
        call_command("reannotate", "hh-bad", str(path), "--audience", "nobody")


def test_the_import_format_is_told_from_the_first_row(campaign):
    native = {"prompt": "Q", "payload": {"candidates": ["A", "B"]}}
    csv_text = b"prompt,candidate_a,candidate_b\nQ,A,B\n"
    for content, found in (
        (jsonl_bytes(native), "jsonl"),
        (b"\n\n" + jsonl_bytes(*STRING_PAIRS), "pairs"),
        (gzip.compress(csv_text), "csv"),
    ):
        result = items_import(campaign=campaign, stream=io.BytesIO(content), file_format="auto")
        assert result.format == found


def test_a_gzipped_file_is_capped_by_what_it_unpacks_to(owner, campaign, settings):
    settings.IMPORT_MAX_BYTES = 10_000
    content = gzip.compress(jsonl_bytes(*HH_LINES * 40))  # ~1 kB packed, ~40 kB unpacked
    assert len(content) < settings.IMPORT_MAX_BYTES
    answer = api_import(owner, campaign, content, "big.jsonl.gz", mode="keep_valid")
    assert answer.status_code == 413 and "import limit" in answer.json()["detail"]
    assert campaign.items.count() == 0


def test_a_first_line_nested_too_deep_is_refused_naming_it(owner, campaign):
    deep = b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n"
    answer = api_import(owner, campaign, gzip.compress(deep), "deep.jsonl.gz")
    assert answer.status_code == 400 and answer.json()["line"] == 1
    assert campaign.items.count() == 0


def test_a_parquet_payload_holding_bytes_is_refused_naming_the_row(owner, campaign, tmp_path):
    rows = [
        {
            "prompt": "Q",
            "payload": {
                "candidates": [
                    {"text": "A", "generation": {"params": {"seed": b"\x00\x01"}}},
                    {"text": "B", "generation": {"params": {"seed": b"\x02"}}},
                ]
            },
        }
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "native.parquet")
    answer = api_import(
        owner, campaign, (tmp_path / "native.parquet").read_bytes(), "native.parquet"
    )
    assert answer.status_code == 400, answer.content
    assert (answer.json()["line"], answer.json()["field"]) == (1, "payload")
    assert campaign.items.count() == 0


def test_identical_transcripts_import_as_two_equal_candidates(campaign):
    same = {"chosen": ORDINARY["chosen"], "rejected": ORDINARY["chosen"]}
    items_import(campaign=campaign, stream=io.BytesIO(jsonl_bytes(same)), file_format="hh-rlhf")
    item = campaign.items.get()
    assert [c["text"] for c in item.candidates] == ["Oui, with warm milk."] * 2


def test_an_empty_human_turn_is_refused_naming_the_line_the_field_and_the_turn(owner, campaign):
    # hh-rlhf's harmless-base test file has no empty Human: turn (counted in
    # tests/data/hh-rlhf/README.md); a file that has one is told where it is.
    empty_question = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: \n\nAssistant: Yes?",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: \n\nAssistant: Go on.",
    }
    answer = api_import(owner, campaign, jsonl_bytes(ORDINARY, empty_question), "hh.jsonl")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("Line 2: chosen: Human turn 2 is empty")
    assert not campaign.items.exists()
    kept = api_import(
        owner, campaign, jsonl_bytes(ORDINARY, empty_question), "hh.jsonl", mode="keep_valid"
    ).json()
    assert kept["created"] == 1
    assert kept["rejected"] == [
        {
            "line": 2,
            "unit": "Line",
            "field": "chosen",
            "message": "Human turn 2 is empty: a conversation whose question has no text "
            "cannot be judged. Remove the line, or import with keep-valid to leave it out.",
        }
    ]
