"""Imports are all-or-nothing, streaming, and name the line and field of a bad row."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collection.imports import ImportFileError, items_import, parse_hh_transcript
from collection.models import Campaign, Item, Slot
from tests.factories import AudienceFactory, make_campaign

pytestmark = pytest.mark.django_db


def jsonl(*rows) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode())


def pair(n, **extra):
    return {
        "external_id": f"x{n}",
        "prompt": f"Q{n}",
        "payload": {
            "candidates": [{"text": f"A{n}", "source": "m1"}, {"text": f"B{n}", "source": "m2"}]
        },
        **extra,
    }


@pytest.fixture
def campaign():
    return make_campaign(audiences={AudienceFactory(): 2}, items=0)


def refused(campaign, stream, file_format="jsonl") -> ImportFileError:
    before = (Item.objects.count(), Slot.objects.count())
    with pytest.raises(ImportFileError) as caught:
        items_import(campaign=campaign, stream=stream, file_format=file_format)
    assert (Item.objects.count(), Slot.objects.count()) == before
    return caught.value


def test_native_jsonl_creates_items_and_their_slots(campaign):
    result = items_import(campaign=campaign, stream=jsonl(pair(1), pair(2)), file_format="jsonl")
    assert result.created == 2
    item = campaign.items.get(external_id="x1")
    assert item.payload["candidates"] == [
        {"id": "a", "text": "A1", "source": "m1"},
        {"id": "b", "text": "B1", "source": "m2"},
    ]
    assert Slot.objects.filter(item=item).count() == 2


def test_malformed_json_line_names_the_line(campaign):
    stream = io.BytesIO(json.dumps(pair(1)).encode() + b"\n{not json}\n")
    error = refused(campaign, stream)
    assert error.line == 2 and "Not valid JSON" in str(error)


def test_wrong_kind_payload_names_line_and_field(campaign):
    bad = {"prompt": "Q", "payload": {"candidates": [{"text": "only one"}]}}
    error = refused(campaign, jsonl(pair(1), pair(2), bad))
    assert (error.line, error.field) == (3, "payload.candidates")
    error = refused(campaign, jsonl({"prompt": "Q", "payload": {"draft": "x"}}))
    assert error.field == "payload.draft"


def test_duplicate_external_id_in_file_and_in_database(campaign):
    error = refused(campaign, jsonl(pair(1), pair(2), pair(1)))
    assert (error.line, error.field) == (3, "external_id")
    assert "first on line 1" in str(error)
    items_import(campaign=campaign, stream=jsonl(pair(7)), file_format="jsonl")
    error = refused(campaign, jsonl(pair(5), pair(6), pair(7)))
    assert (error.line, error.field) == (3, "external_id")
    assert "exists already" in str(error)


def test_empty_file(campaign):
    assert "empty" in str(refused(campaign, io.BytesIO(b"")))
    assert "no items" in str(refused(campaign, io.BytesIO(b"\n\n")))


def test_non_utf8_bytes_name_the_line(campaign):
    stream = io.BytesIO(json.dumps(pair(1)).encode() + b"\n" + b'{"prompt": "caf\xe9"}\n')
    error = refused(campaign, stream)
    assert error.line == 2 and "UTF-8" in str(error)


def test_a_file_cut_off_mid_line(campaign):
    whole = jsonl(pair(1), pair(2)).getvalue()
    error = refused(campaign, io.BytesIO(whole[:-15]))
    assert error.line == 2 and "cut off" in str(error)


def test_unknown_fields_are_refused(campaign):
    error = refused(campaign, jsonl({**pair(1), "colour": "red"}))
    assert (error.line, error.field) == (1, "colour")


def test_csv_import(campaign):
    text = (
        "external_id,prompt,candidate_a,source_a,candidate_b,source_b\n"
        'c1,"Which, exactly?","First, with a comma",m1,Second,m2\n'
        "c2,Other?,Yes,m1,No,m2\n"
    )
    result = items_import(campaign=campaign, stream=io.BytesIO(text.encode()), file_format="csv")
    assert result.created == 2
    assert campaign.items.get(external_id="c1").payload["candidates"][0]["text"] == (
        "First, with a comma"
    )
    bad = "external_id,prompt,candidate_a\nc3,Q,only one\n"
    error = refused(campaign, io.BytesIO(bad.encode()), "csv")
    assert (error.line, error.field) == (2, "payload.candidates")
    error = refused(campaign, io.BytesIO(b"external_id,prompt,flavour\n"), "csv")
    assert (error.line, error.field) == (1, "flavour")


def test_hh_rlhf_becomes_context_plus_two_candidates(campaign):
    row = {
        "chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I bake bread?"
        "\n\nAssistant: Mix flour, water, yeast and salt.",
        "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I bake bread?"
        "\n\nAssistant: Buy it.",
    }
    items_import(campaign=campaign, stream=jsonl(row), file_format="hh-rlhf")
    item = campaign.items.get()
    assert item.prompt == "How do I bake bread?"
    assert item.context == {
        "messages": [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello!"},
        ]
    }
    texts = {c["source"]: c["text"] for c in item.candidates}
    assert texts == {
        "hh-rlhf:chosen": "Mix flour, water, yeast and salt.",
        "hh-rlhf:rejected": "Buy it.",
    }
    mismatch = {"chosen": row["chosen"], "rejected": "\n\nHuman: Other\n\nAssistant: x"}
    assert refused(campaign, jsonl(mismatch), "hh-rlhf").line == 1
    assert refused(campaign, jsonl({"chosen": "no turns", "rejected": "x"}), "hh-rlhf").line == 1


def test_parse_hh_transcript():
    assert parse_hh_transcript("\n\nHuman: a\n\nAssistant: b") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]


def test_management_command_imports_and_reports_errors(campaign, tmp_path: Path):
    good = tmp_path / "items.jsonl"
    good.write_bytes(jsonl(pair(1), pair(2)).getvalue())
    out = io.StringIO()
    call_command("import_items", campaign.slug, str(good), stdout=out)
    assert "2 items" in out.getvalue()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl(pair(3), {"prompt": ""}).getvalue())
    with pytest.raises(CommandError, match="Line 2"):
        call_command("import_items", campaign.slug, str(bad))
    assert campaign.items.count() == 2


def test_api_import_reports_line_and_field(campaign):
    from rest_framework.test import APIClient

    owner = campaign.owners.first() or _owner(campaign)
    client = APIClient()
    client.force_authenticate(owner)
    answer = client.post(
        f"/api/v1/campaigns/{campaign.slug}/items/import/",
        {"format": "jsonl", "file": jsonl(pair(1), {"prompt": "Q", "payload": {}})},
        format="multipart",
    )
    assert answer.status_code == 400
    assert answer.json()["line"] == 2 and answer.json()["field"] == "payload.candidates"
    assert campaign.items.count() == 0


def _owner(campaign: Campaign):
    from tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    campaign.owners.add(user)
    return user
