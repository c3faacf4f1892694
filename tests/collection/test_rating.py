"""Single-response ratings (`collection.kinds.rating`): a rubric on the campaign, items of
one response, scores per attribute; every refusal a 400 that names the field and
stores nothing."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from collection import imports
from collection.models import Campaign, Item, Response
from tests.factories import AudienceFactory, make_researcher, ready_participant

pytestmark = pytest.mark.django_db

HELPSTEER = [
    {"name": "helpfulness", "description": "Overall helpfulness of the response."},
    {"name": "correctness", "description": "Pertinent facts, without errors."},
    {"name": "coherence", "description": "Consistency and clarity of expression."},
    {"name": "complexity", "description": "Intellectual depth needed to write it."},
    {"name": "verbosity", "description": "Amount of detail relative to what was asked."},
]
ATTRIBUTES = [attribute["name"] for attribute in HELPSTEER]


def researcher_client():
    owner = make_researcher()
    client = APIClient()
    client.force_authenticate(owner)
    return client, owner


def create(client, **fields):
    body = {
        "slug": "helpsteer",
        "name": "HelpSteer-style ratings",
        "item_kind": "rating",
        "rating_min": 0,
        "rating_max": 4,
        "rating_rubric": HELPSTEER,
        **fields,
    }
    return client.post("/api/v1/campaigns/", body, format="json")


def jsonl(*rows) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode())


def rating_campaign(*, rubric=HELPSTEER, scale=(0, 4), k=2, items=2) -> Campaign:
    client, _ = researcher_client()
    audience = AudienceFactory(slug="raters")
    answer = create(
        client,
        rating_rubric=rubric,
        rating_min=scale[0],
        rating_max=scale[1],
        targets=[{"audience": audience.slug, "overlap_k": k}],
    )
    assert answer.status_code == 201, answer.json()
    campaign = Campaign.objects.get(slug="helpsteer")
    rows = [
        {
            "external_id": f"r{n}",
            "prompt": f"How do I boil an egg? ({n})",
            "payload": {"response": {"text": f"Boil it for {n + 6} minutes.", "source": "m1"}},
        }
        for n in range(items)
    ]
    if rows:
        imports.items_import(campaign=campaign, stream=jsonl(*rows), file_format="jsonl")
    campaign.status = Campaign.Status.OPEN
    campaign.save()
    campaign.test_audience = audience
    return campaign


def annotator(campaign):
    person = ready_participant(audience=campaign.test_audience, campaign=campaign)
    client = APIClient()
    client.force_authenticate(person.user)
    return client, person


def submit(client, assignment: int, payload: dict):
    return client.post(
        f"/api/v1/assignments/{assignment}/submit/",
        {"payload": payload, "time_on_task_ms": 900, "idempotency_key": str(uuid.uuid4())},
        format="json",
    )


# The campaign and its rubric -----------------------------------------------------------


def test_a_researcher_defines_a_rubric_through_the_api_and_reads_it_back():
    client, _ = researcher_client()
    answer = create(client, rating_rubric=["helpfulness", {"name": "verbosity", "label": "Length"}])
    assert answer.status_code == 201, answer.json()
    assert answer.json()["item_kind"] == "rating"
    assert answer.json()["rating_rubric"] == [
        {"name": "helpfulness", "label": "Helpfulness", "description": ""},
        {"name": "verbosity", "label": "Length", "description": ""},
    ]
    assert answer.json()["competence"] == "behaviour"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rating_rubric": ["helpfulness", "Helpful ness"]}, "rating_rubric.1.name"),
        ({"rating_rubric": ["helpfulness", "helpfulness"]}, "rating_rubric.1.name"),
        ({"rating_rubric": [{"name": "x", "weight": 2}]}, "rating_rubric.0.weight"),
        ({"rating_rubric": [{"name": "x", "description": "a\nb"}]}, "rating_rubric.0.description"),
        ({"rating_rubric": [{"name": "x", "label": "\u0000"}]}, "rating_rubric.0.label"),
        ({"rating_rubric": {"helpfulness": 1}}, "rating_rubric"),
        ({"rating_rubric": [f"a{n}" for n in range(10)]}, "rating_rubric"),
        ({"rating_min": None, "rating_max": None}, "rating_min"),
        ({"item_kind": "preference", "rating_rubric": ["helpfulness"]}, "rating_rubric"),
    ],
)
def test_a_bad_rubric_or_a_missing_scale_is_refused_naming_the_field(fields, field):
    client, _ = researcher_client()
    answer = create(client, **fields)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert not Campaign.objects.exists()


def test_the_rubric_and_scale_cannot_change_once_someone_has_rated():
    campaign = rating_campaign(rubric=["helpfulness"])
    owner = campaign.owners.get()
    client = APIClient()
    client.force_authenticate(owner)
    before = client.patch(
        f"/api/v1/campaigns/{campaign.slug}/",
        {"rating_rubric": ["helpfulness", "verbosity"]},
        format="json",
    )
    assert before.status_code == 200
    rater, _ = annotator(campaign)
    lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert submit(rater, lease["assignment"], {"scores": {"helpfulness": 1, "verbosity": 2}})
    after = client.patch(
        f"/api/v1/campaigns/{campaign.slug}/", {"rating_rubric": ["helpfulness"]}, format="json"
    )
    assert after.status_code == 409 and after.json()["field"] == "rating_rubric"
    narrower = client.patch(f"/api/v1/campaigns/{campaign.slug}/", {"rating_max": 2}, format="json")
    assert narrower.status_code == 409 and narrower.json()["field"] == "rating_min"
    campaign.refresh_from_db()
    assert campaign.rubric_names == ("helpfulness", "verbosity")
    assert campaign.rating_scale == (0, 4)


# Items -------------------------------------------------------------------------------


def test_rating_items_import_as_a_prompt_and_one_response_from_jsonl_and_csv():
    campaign = rating_campaign(items=0)
    imports.items_import(
        campaign=campaign,
        stream=jsonl(
            {"external_id": "s", "prompt": "P1", "payload": {"response": "Plain text."}},
            {"external_id": "c", "prompt": "P2", "payload": {"candidates": [{"text": "One."}]}},
        ),
        file_format="jsonl",
    )
    csv = io.BytesIO(b"external_id,prompt,candidate_a,source_a\nv,P3,From a CSV.,model-x\n")
    imports.items_import(campaign=campaign, stream=csv, file_format="csv")
    payloads = {item.external_id: item.payload for item in campaign.items.all()}
    assert payloads == {
        "s": {"response": {"text": "Plain text."}},
        "c": {"response": {"text": "One."}},
        "v": {"response": {"text": "From a CSV.", "source": "model-x"}},
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.response"),
        ({"response": ""}, "payload.response.text"),
        ({"response": {"text": "x", "score": 3}}, "payload.response.score"),
        ({"candidates": [{"text": "a"}, {"text": "b"}]}, "payload.candidates"),
        ({"response": "x", "candidates": [{"text": "a"}]}, "payload.candidates"),
    ],
)
def test_an_import_of_a_bad_rating_item_names_line_and_field_and_stores_nothing(payload, field):
    campaign = rating_campaign(items=0)
    owner = campaign.owners.get()
    client = APIClient()
    client.force_authenticate(owner)
    good = {"prompt": "Fine", "payload": {"response": "Fine."}}
    answer = client.post(
        f"/api/v1/campaigns/{campaign.slug}/items/import/",
        {"format": "jsonl", "file": jsonl(good, {"prompt": "Bad", "payload": payload})},
        format="multipart",
    )
    assert answer.status_code == 400
    assert (answer.json()["line"], answer.json()["field"]) == (2, field)
    assert not Item.objects.exists()


# Scores ------------------------------------------------------------------------------


def test_the_annotator_api_shows_the_response_rubric_and_scale_and_stores_scores():
    campaign = rating_campaign()
    rater, person = annotator(campaign)
    lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    item = lease["item"]
    assert item["response"]["text"].startswith("Boil it for")
    assert "source" not in item["response"]  # who wrote it is not shown to raters
    assert [a["name"] for a in item["rubric"]] == ATTRIBUTES and item["scale"] == [0, 4]
    scores = dict(zip(ATTRIBUTES, [4, 3, 4, 1, 2], strict=True))
    answer = submit(rater, lease["assignment"], {"scores": scores})
    assert answer.status_code == 201, answer.json()
    assert Response.objects.get(participant=person).payload == {"scores": scores}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "scores"),
        ({"scores": {"helpfulness": 3}}, "scores.correctness"),
        ({"scores": {**dict.fromkeys(ATTRIBUTES, 2), "helpfulness": 5}}, "scores.helpfulness"),
        ({"scores": {**dict.fromkeys(ATTRIBUTES, 2), "verbosity": -1}}, "scores.verbosity"),
        ({"scores": {**dict.fromkeys(ATTRIBUTES, 2), "verbosity": 2.5}}, "scores.verbosity"),
        ({"scores": {**dict.fromkeys(ATTRIBUTES, 2), "tone": 2}}, "scores.tone"),
        ({"scores": [2, 2, 2, 2, 2]}, "scores"),
        ({"score": 3}, "score"),
        ({"choice": "a"}, "choice"),
    ],
)
def test_scores_off_the_rubric_or_scale_are_refused_naming_the_field(payload, field):
    campaign = rating_campaign()
    rater, _ = annotator(campaign)
    lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    answer = submit(rater, lease["assignment"], payload)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert not Response.objects.exists()


def test_a_campaign_without_a_rubric_takes_one_likert_score():
    campaign = rating_campaign(rubric=[], scale=(1, 7))
    rater, person = annotator(campaign)
    lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert [a["name"] for a in lease["item"]["rubric"]] == ["overall"]
    assert submit(rater, lease["assignment"], {"score": 8}).json()["field"] == "scores.overall"
    assert submit(rater, lease["assignment"], {"score": 6}).status_code == 201
    assert Response.objects.get(participant=person).payload == {"scores": {"overall": 6}}


def test_a_rating_attention_check_passes_only_inside_its_bounds():
    campaign = rating_campaign(rubric=["helpfulness"], items=1)
    campaign.attention_check_share = 0.5  # the second item served is the check
    campaign.save()
    line = {
        "prompt": "Attention: this reply is nonsense.",
        "payload": {"response": "Bananas are a kind of weather."},
        "expected": {"max": 1},
    }
    imports.items_import(campaign=campaign, stream=jsonl(line), file_format="jsonl")
    bad = {"prompt": "x", "payload": {"response": "y"}, "expected": {"min": 3, "max": 1}}
    with pytest.raises(imports.ImportFileError, match=r"expected\.max"):
        imports.items_import(campaign=campaign, stream=jsonl(bad), file_format="jsonl")
    results = []
    for score in (0, 3):
        rater, person = annotator(campaign)
        for _ in range(2):
            lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
            assert submit(rater, lease["assignment"], {"score": score}).status_code == 201
        check = Response.objects.get(participant=person, item__is_attention_check=True)
        results.append(check.attention_passed)
    assert results == [True, False]


# The web form ------------------------------------------------------------------------


def test_the_workbench_form_takes_a_rubric_one_attribute_a_line(client):
    owner = make_researcher()
    client.force_login(owner)
    form = {
        "slug": "tone",
        "name": "Tone",
        "item_kind": "rating",
        "transience": "semantic",
        "preference_format": "choice",
        "rating_min": "0",
        "rating_max": "4",
        "attention_check_share": "0",
        "lease_seconds": "900",
        "consent_text": "I agree.",
        "consent_version": "1",
    }
    bad = client.post(
        reverse("workbench:campaign_create"),
        {**form, "rating_rubric": "helpfulness: useful\n\nHelp Ful: no"},
    )
    assert bad.status_code == 200 and "Line 3" in bad.content.decode()
    assert not Campaign.objects.exists()
    good = client.post(
        reverse("workbench:campaign_create"),
        {**form, "rating_rubric": "helpfulness: How useful it is.\nverbosity (Length): Too long?"},
    )
    assert good.status_code == 302
    campaign = Campaign.objects.get(slug="tone")
    assert campaign.rating_rubric == [
        {"name": "helpfulness", "label": "Helpfulness", "description": "How useful it is."},
        {"name": "verbosity", "label": "Length", "description": "Too long?"},
    ]
    edit = client.get(reverse("workbench:campaign_edit", args=["tone"])).content.decode()
    assert "verbosity (Length): Too long?" in edit


def test_the_researchers_pages_of_a_rating_campaign_show_the_response_and_mean_scores(client):
    campaign = rating_campaign(rubric=["helpfulness", "verbosity"], items=1)
    for scores in ({"helpfulness": 4, "verbosity": 1}, {"helpfulness": 1, "verbosity": 2}):
        rater, _ = annotator(campaign)
        lease = rater.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
        assert submit(rater, lease["assignment"], {"scores": scores}).status_code == 201
    owner = campaign.owners.get()
    owner.is_staff = True  # the coverage dashboard is the admins'
    owner.save()
    client.force_login(owner)
    item = campaign.items.get()
    detail = client.get(reverse("workbench:item_detail", args=[campaign.slug, item.pk]))
    text = detail.content.decode()
    assert detail.status_code == 200
    assert "Boil it for 6 minutes." in text and "m1" in text
    assert "helpfulness mean: 2.5" in text and "verbosity mean: 1.5" in text
    for url in (
        reverse("workbench:item_list", args=[campaign.slug]),
        reverse("campaign_detail", args=[campaign.slug]),
        reverse("campaign_releases", args=[campaign.slug]),
        reverse("coverage_dashboard"),
    ):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("value", ["9", "abc", "", "3\x00"])
def test_the_annotate_form_refuses_an_off_scale_or_junk_score_with_a_400(client, value):
    campaign = rating_campaign(rubric=["helpfulness", "verbosity"], items=1)
    _, person = annotator(campaign)
    client.force_login(person.user)
    page = client.get(reverse("annotate", args=[campaign.slug]))
    assert page.status_code == 200
    form = page.context["form"]
    answer = client.post(
        reverse("submit", args=[campaign.slug]),
        {
            "assignment": form.assignment.pk,
            "idempotency_key": str(uuid.uuid4()),
            "scores_helpfulness": value,
            "scores_verbosity": "2",
        },
    )
    assert answer.status_code == 400
    assert "Helpfulness" in answer.content.decode()
    assert not Response.objects.exists()
