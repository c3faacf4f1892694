"""Generation jobs through the API on real PostgreSQL, against the stand-in server."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.test import APIClient

from collection import services as collection_services
from collection.models import Item, Slot
from endpoints import diversity, services
from endpoints.models import GenerationJob, GenerationRequest
from tests.factories import make_researcher, ready_participant
from tests.helpers import make_endpoint, prompts_only_campaign

pytestmark = pytest.mark.django_db


def create_job(api, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/generation-jobs/", body, format="json")
    return response


def test_a_prompts_only_item_is_not_served_until_it_has_two_candidates(researcher):
    campaign, audience = prompts_only_campaign(researcher, items=1)
    person = ready_participant(audience=audience, campaign=campaign)
    item = campaign.items.get()
    assert item.payload == {"candidates": []}
    assert collection_services.assignment_next(participant=person, campaign=campaign).code == (
        "exhausted"
    )
    collection_services.item_candidates_append(
        item_id=item.pk, candidates=[{"text": "First reply.", "source": "m1"}]
    )
    assert collection_services.assignment_next(participant=person, campaign=campaign).code == (
        "exhausted"
    )
    collection_services.item_candidates_append(
        item_id=item.pk, candidates=[{"text": "Second reply.", "source": "m2"}]
    )
    lease = collection_services.assignment_next(participant=person, campaign=campaign)
    assert lease.item_id == item.pk
    assert [c["id"] for c in Item.objects.get(pk=item.pk).candidates] == ["a", "b"]
    assert Slot.objects.filter(item=item).count() == 2  # k = 2


def test_an_import_without_candidates_is_refused_unless_it_says_prompts_only(researcher, api):
    campaign, _ = prompts_only_campaign(researcher, items=1)
    line = json.dumps({"prompt": "No candidates here?"}).encode()
    url = f"/api/v1/campaigns/{campaign.slug}/items/import/"
    refused = api.post(url, {"file": io.BytesIO(line), "format": "jsonl"}, format="multipart")
    assert refused.status_code == 400 and refused.json()["field"] == "payload.candidates"
    accepted = api.post(
        url,
        {"file": io.BytesIO(line), "format": "jsonl", "prompts_only": "true"},
        format="multipart",
    )
    assert accepted.status_code == 201, accepted.json()
    assert campaign.items.count() == 2


def test_a_job_fills_items_from_two_endpoints_and_reports_the_failing_third(
    researcher, api, standin, django_capture_on_commit_callbacks
):
    campaign, audience = prompts_only_campaign(researcher, items=5, preference_format="ranking")
    one = make_endpoint(researcher, standin, "model-one", temperature=0.3, system_prompt="Be kind")
    two = make_endpoint(researcher, standin, "model-two", max_tokens=12)
    broken = make_endpoint(researcher, standin, "model-broken")
    standin.set_behaviour("model-broken", status=500)
    response = create_job(
        api,
        django_capture_on_commit_callbacks,
        campaign=campaign.slug,
        sources=[{"endpoint": one.pk}, {"endpoint": two.pk}, {"endpoint": broken.pk}],
        keep=3,
        max_attempts=2,
        chunk_size=2,
    )
    assert response.status_code == 201, response.json()
    job = api.get(f"/api/v1/generation-jobs/{response.json()['id']}/").json()
    assert job["status"] == "finished"
    progress = job["progress"]
    assert (progress["succeeded"], progress["failed"], progress["pending"]) == (10, 5, 0)
    assert progress["items_done"] == progress["items_total"] == 5 and progress["fraction"] == 1
    assert progress["errors"][0]["endpoint"] == "model-broken"
    assert progress["errors"][0]["error"].startswith("HTTP 500")
    assert progress["errors"][0]["requests"] == 5
    for item in campaign.items.all():
        assert [c["source"] for c in item.candidates] == ["model-one", "model-two"]
        first, second = (c["generation"] for c in item.candidates)
        assert first["params"] == {"temperature": 0.3, "seed": 0}
        assert second["params"] == {"max_tokens": 12, "seed": 0}
        assert first["usage"]["completion_tokens"] > 0 and first["latency_ms"] >= 0
    first_request = next(r for r in standin.requests if r["model"] == "model-one")
    assert first_request["messages"][0] == {"role": "system", "content": "Be kind"}
    # Attempts are bounded: 5 items × 2 attempts for the broken endpoint.
    assert sum(r["model"] == "model-broken" for r in standin.requests) == 10
    # The items are served now, without their sources.
    person = ready_participant(audience=audience, campaign=campaign)
    client = APIClient()
    client.force_authenticate(person.user)
    served = client.post(f"/api/v1/campaigns/{campaign.slug}/next/").json()
    assert "model-one" not in json.dumps(served) and len(served["item"]["candidates"]) == 2


def test_running_a_chunk_again_calls_nothing_and_duplicates_no_candidate(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=3)
    one = make_endpoint(researcher, standin, "one")
    two = make_endpoint(researcher, standin, "two")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.generation_job_create(
            campaign=campaign,
            created_by=researcher,
            sources=[{"endpoint": one.pk}, {"endpoint": two.pk}],
        )
    calls = len(standin.requests)
    assert calls == 6
    before = {item.pk: item.payload for item in campaign.items.all()}
    assert services.generation_chunk_run(job_id=job.pk, chunk=0) == 0
    assert len(standin.requests) == calls
    assert {item.pk: item.payload for item in campaign.items.all()} == before


def test_work_finished_before_a_kill_is_kept_and_written_once_on_resume(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=2)
    one = make_endpoint(researcher, standin, "one")
    two = make_endpoint(researcher, standin, "two")
    job = services.generation_job_create(
        campaign=campaign,
        created_by=researcher,
        sources=[{"endpoint": one.pk}, {"endpoint": two.pk}],
        enqueue=False,
    )
    # As if a worker died after saving three replies and before writing any item.
    done = list(GenerationRequest.objects.filter(job=job).order_by("id")[:3])
    for request in done:
        GenerationRequest.objects.filter(pk=request.pk).update(
            status="succeeded", text=f"Kept reply {request.pk}.", latency_ms=5
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_job_resume(job=job)
    assert len(standin.requests) == 1  # only the unfinished request was called
    texts = [c["text"] for item in campaign.items.order_by("id") for c in item.candidates]
    assert texts[:3] == [f"Kept reply {r.pk}." for r in done] and len(texts) == 4
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FINISHED
    with pytest.raises(collection_services.ServiceError):
        services.generation_job_resume(job=job)


def test_retrying_failed_requests_adds_the_missing_candidates_only(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=2)
    one = make_endpoint(researcher, standin, "one")
    flaky = make_endpoint(researcher, standin, "flaky")
    standin.set_behaviour("flaky", status=429)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.generation_job_create(
            campaign=campaign,
            created_by=researcher,
            sources=[{"endpoint": one.pk}, {"endpoint": flaky.pk}],
            max_attempts=1,
        )
    assert [len(item.candidates) for item in campaign.items.all()] == [1, 1]
    assert not Slot.objects.filter(item__campaign=campaign).exists()
    standin.set_behaviour("flaky")
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_job_resume(job=job)
    for item in campaign.items.all():
        assert [c["source"] for c in item.candidates] == ["one", "flaky"]
    assert Slot.objects.filter(item__campaign=campaign).count() == 4


def test_diverse_keeps_the_samples_that_are_not_near_copies():
    texts = [
        "Cool the rice quickly and keep it in the fridge for a day.",
        "Cool the rice quickly and keep it in the fridge for one day.",
        "Throw it away; reheated rice can carry spores that survive cooking.",
        "Cool the rice quickly and keep it in the fridge for a day!",
        "Ask a pharmacist or a food safety line if you are unsure.",
    ]
    kept = diversity.most_diverse(texts, 3)
    assert kept == [0, 2, 4] or kept == [1, 2, 4] or kept == [2, 3, 4]
    assert diversity.lexical_distance(texts[0], texts[3]) == 0.0
    assert diversity.lexical_distance(texts[0], texts[2]) == 1.0


def test_a_diverse_job_keeps_distinct_replies_from_one_endpoint(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=2)
    sampled = make_endpoint(researcher, standin, "sampled")
    standin.set_behaviour("sampled", variety=2)  # seeds 0..3 give two replies, twice each
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_job_create(
            campaign=campaign,
            created_by=researcher,
            sources=[{"endpoint": sampled.pk, "samples": 4}],
            keep=2,
            diverse=True,
        )
    for item in campaign.items.all():
        first, second = item.candidates
        assert first["text"] != second["text"]
        assert {
            first["generation"]["params"]["seed"] % 2,
            second["generation"]["params"]["seed"] % 2,
        } == {0, 1}


def test_another_researcher_cannot_see_or_use_your_endpoint_or_job(
    researcher, api, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=1)
    one = make_endpoint(researcher, standin, "one")
    two = make_endpoint(researcher, standin, "two")
    job = create_job(
        api,
        django_capture_on_commit_callbacks,
        campaign=campaign.slug,
        sources=[{"endpoint": one.pk}, {"endpoint": two.pk}],
    ).json()
    other = make_researcher()
    other_campaign, _ = prompts_only_campaign(other, items=1)
    mine = make_endpoint(other, standin, "theirs")
    intruder = APIClient()
    intruder.force_authenticate(other)
    assert intruder.get(f"/api/v1/endpoints/{one.pk}/").status_code == 404
    assert intruder.post(f"/api/v1/endpoints/{one.pk}/test/").status_code == 404
    assert intruder.patch(f"/api/v1/endpoints/{one.pk}/", {"name": "x"}).status_code == 404
    assert [e["name"] for e in intruder.get("/api/v1/endpoints/").json()["results"]] == ["theirs"]
    assert intruder.get(f"/api/v1/generation-jobs/{job['id']}/").status_code == 404
    assert intruder.get("/api/v1/generation-jobs/").json()["results"] == []
    stolen = intruder.post(
        "/api/v1/generation-jobs/",
        {"campaign": other_campaign.slug, "sources": [{"endpoint": one.pk}, {"endpoint": mine.pk}]},
        format="json",
    )
    assert stolen.status_code == 400 and stolen.json()["field"] == "sources.0.endpoint"
    theirs_campaign = intruder.post(
        "/api/v1/generation-jobs/",
        {"campaign": campaign.slug, "sources": [{"endpoint": mine.pk, "samples": 2}]},
        format="json",
    )
    assert theirs_campaign.status_code == 404
    annotator = APIClient()
    annotator.force_authenticate(ready_participant(audience=_audience(campaign)).user)
    assert annotator.get("/api/v1/endpoints/").status_code == 403
    assert annotator.get(f"/api/v1/generation-jobs/{job['id']}/").status_code == 403


def _audience(campaign):
    return campaign.targets.get().audience


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base_url": "ftp://127.0.0.1/v1"}, "base_url"),
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"temperature": 3}, "temperature"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_the_field(api, body, field):
    payload = {"name": "ok", "base_url": "http://127.0.0.1:9/v1", "model": "m", **body}
    response = api.post("/api/v1/endpoints/", payload, format="json")
    body = response.json()
    assert response.status_code == 400 and (field in body or body.get("field") == field), body
    assert api.get("/api/v1/endpoints/").json()["count"] == 0


def test_a_bad_job_is_refused_naming_the_field_and_creates_nothing(researcher, api, standin):
    campaign, _ = prompts_only_campaign(researcher, items=1)
    one = make_endpoint(researcher, standin, "one")
    cases = [
        ({"sources": [{"endpoint": one.pk}]}, "sources"),
        ({"sources": [{"endpoint": one.pk, "samples": 3}], "keep": 3}, "keep"),
        ({"sources": [{"endpoint": one.pk, "samples": 2}], "keep": 2, "diverse": True}, "keep"),
        (
            {"sources": [{"endpoint": one.pk, "samples": 2, "temperatures": [1]}]},
            "sources.0.temperatures",
        ),
        ({"sources": [{"endpoint": one.pk, "samples": 2}], "items": [999999]}, "items"),
    ]
    for body, field in cases:
        response = api.post(
            "/api/v1/generation-jobs/", {"campaign": campaign.slug, **body}, format="json"
        )
        assert response.status_code == 400, (body, response.json())
        assert response.json().get("field") == field, (body, response.json())
    assert not GenerationJob.objects.exists()
