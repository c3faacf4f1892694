"""Single responses to rate import in HelpSteer2's row shape (``prompt``, ``response`` and
its annotators' five scores, 0-4), from JSONL and Parquet; the original scores are kept
as the response's ``source_scores`` and never shown to annotators; a rating campaign
with HelpSteer2's rubric takes one command (`reannotate --rubric helpsteer2`)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from collection import kinds, services
from collection.kinds.rating import RUBRICS
from collection.models import Campaign, Slot
from endpoints.models import GenerationJob
from endpoints.standin import StandinServer
from tests.factories import AudienceFactory, make_researcher, ready_participant
from tests.helpers import STANDIN_KEY, answer_all, make_endpoint

pytestmark = pytest.mark.django_db

ATTRIBUTES = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
# HelpSteer2's columns, in its order (nvidia/HelpSteer2 on the Hugging Face Hub).
HELPSTEER2 = [
    {
        "prompt": "c#",
        "response": "C# is a high-level, object-oriented programming language.",
        "helpfulness": 3,
        "correctness": 4,
        "coherence": 4,
        "complexity": 2,
        "verbosity": 1,
    },
    {
        "prompt": "Explain photosynthesis to a child.\n",
        "response": " Plants eat sunlight!  They make sugar from air and water.",
        "helpfulness": 2,
        "correctness": 3,
        "coherence": 3,
        "complexity": 0,
        "verbosity": 2,
    },
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def check_items(campaign: Campaign) -> None:
    items = list(campaign.items.order_by("id"))
    assert len(items) == len(HELPSTEER2)
    for item, row in zip(items, HELPSTEER2, strict=True):
        assert item.prompt == row["prompt"]  # byte for byte, spaces and newlines kept
        assert item.payload["response"]["text"] == row["response"]
        assert item.payload["response"]["source_scores"] == {a: row[a] for a in ATTRIBUTES}


def test_a_helpsteer2_rating_study_takes_one_command(tmp_path):
    owner = make_researcher(username="rater-owner")
    nurses = AudienceFactory(slug="nurses")
    path = tmp_path / "helpsteer2.jsonl"
    path.write_bytes(jsonl(HELPSTEER2))
    out = io.StringIO()
    call_command(
        "reannotate",
        "hs2",
        str(path),
        "--rubric",
        "helpsteer2",
        "--audience",
        "nurses=2",
        "--owner",
        owner.username,
        stdout=out,
    )
    assert "Imported 2 items into hs2 (format prompt-response)." in out.getvalue()
    campaign = Campaign.objects.get(slug="hs2")
    assert campaign.item_kind == "rating" and campaign.rating_scale == (0, 4)
    assert campaign.rubric_names == tuple(ATTRIBUTES)
    check_items(campaign)
    assert Slot.objects.filter(item__campaign=campaign, audience=nurses).count() == 4
    # Annotators rate the response without seeing the dataset's own scores.
    person = ready_participant(audience=nurses, campaign=campaign)
    seen = []

    def rate(item) -> dict:
        seen.append(kinds.get("rating").annotator_item(item))
        return {"scores": dict.fromkeys(ATTRIBUTES, 4)}

    assert answer_all(person, campaign, rate) == 2
    assert "source_scores" not in json.dumps(seen)
    assert seen[0]["response"] == {"text": HELPSTEER2[0]["response"]}


def test_helpsteer2_rows_import_from_parquet_through_the_api(tmp_path):
    owner = make_researcher(username="rater-owner")
    campaign = services.campaign_create(
        slug="hs2-api",
        name="HelpSteer2 again",
        item_kind="rating",
        owners=[owner],
        targets={AudienceFactory(): 1},
        rating_min=0,
        rating_max=4,
        rating_rubric=[{"name": a} for a in ATTRIBUTES],
    )
    pq.write_table(pa.Table.from_pylist(HELPSTEER2), tmp_path / "train.parquet")
    client = APIClient()
    client.force_authenticate(owner)
    with (tmp_path / "train.parquet").open("rb") as upload:
        answer = client.post(
            f"/api/v1/campaigns/{campaign.slug}/items/import/", {"file": upload}, format="multipart"
        )
    assert answer.status_code == 201, answer.content
    assert answer.json()["format"] == "prompt-response"
    check_items(campaign)


def test_a_helpsteer2_row_with_a_score_that_is_not_a_number_names_the_row_and_field(tmp_path):
    owner = make_researcher(username="rater-owner")
    campaign = services.campaign_create(
        slug="hs2-bad", name="Bad", item_kind="rating", owners=[owner], rating_min=0, rating_max=4
    )
    rows = [HELPSTEER2[0], {**HELPSTEER2[1], "helpfulness": float("nan")}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "nan.parquet")
    client = APIClient()
    client.force_authenticate(owner)
    with (tmp_path / "nan.parquet").open("rb") as upload:
        answer = client.post(
            f"/api/v1/campaigns/{campaign.slug}/items/import/", {"file": upload}, format="multipart"
        )
    assert answer.status_code == 400
    body = answer.json()
    assert (body["line"], body["field"]) == (2, "payload.response.source_scores.helpfulness")
    assert body["detail"].startswith("Row 2:")
    assert not campaign.items.exists()


def test_a_rating_item_imported_prompts_only_gets_its_one_response_from_an_endpoint(
    tmp_path, django_capture_on_commit_callbacks
):
    owner = make_researcher(username="rater-owner")
    audience = AudienceFactory()
    campaign = services.campaign_create(
        slug="hs2-gen",
        name="Rate generated replies",
        item_kind="rating",
        owners=[owner],
        targets={audience: 2},
        **RUBRICS["helpsteer2"],
    )
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(
        jsonl(
            [{"external_id": f"p{n}", "prompt": row["prompt"]} for n, row in enumerate(HELPSTEER2)]
        )
    )
    with pytest.raises(CommandError, match=r"Line 1: payload\.response: Give the response"):
        call_command("import_items", campaign.slug, str(path))
    call_command("import_items", campaign.slug, str(path), "--prompts-only", stdout=io.StringIO())
    assert [item.payload for item in campaign.items.all()] == [{"candidates": []}] * 2
    services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    person = ready_participant(audience=audience, campaign=campaign)
    assert services.assignment_next(participant=person, campaign=campaign).code == "exhausted"
    api = APIClient()
    api.force_authenticate(owner)
    with StandinServer(api_key=STANDIN_KEY) as standin:
        endpoint = make_endpoint(owner, standin, "writer-v1")
        two = make_endpoint(owner, standin, "writer-v2")
        refused = api.post(
            "/api/v1/generation-jobs/",
            {
                "campaign": campaign.slug,
                "sources": [{"endpoint": endpoint.pk}, {"endpoint": two.pk}],
            },
            format="json",
        )
        assert refused.status_code == 400 and refused.json()["field"] == "sources"
        with django_capture_on_commit_callbacks(execute=True):
            created = api.post(
                "/api/v1/generation-jobs/",
                {"campaign": campaign.slug, "sources": [{"endpoint": endpoint.pk}]},
                format="json",
            )
        assert created.status_code == 201, created.json()
    job = GenerationJob.objects.get(pk=created.json()["id"])
    assert job.status == GenerationJob.Status.FINISHED
    for item in campaign.items.all():
        response = item.payload["response"]
        assert response["text"] and response["source"] == "writer-v1"
        assert response["generation"]["job"] == job.pk
    assert Slot.objects.filter(item__campaign=campaign, audience=audience).count() == 4
    assert answer_all(person, campaign, lambda item: {"scores": dict.fromkeys(ATTRIBUTES, 2)}) == 2
