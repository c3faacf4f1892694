"""The workbench's generation page: a researcher picks items and endpoints in the
browser form, the job runs (its tasks on commit), and the page shows its progress."""

from __future__ import annotations

import pytest
from django.test import Client

from collection.models import Item
from endpoints.models import GenerationJob
from tests.factories import make_researcher, ready_participant
from tests.helpers import make_endpoint, prompts_only_campaign

pytestmark = pytest.mark.django_db


def page(campaign) -> str:
    return f"/workbench/campaigns/{campaign.slug}/generate/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_form_fills_the_items_without_candidates_and_shows_progress(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=3)
    one = make_endpoint(researcher, standin, "model-one")
    two = make_endpoint(researcher, standin, "model-two")
    browser = signed_in(researcher)
    shown = browser.get(page(campaign))
    assert shown.status_code == 200 and b"model-one" in shown.content
    with django_capture_on_commit_callbacks(execute=True):
        sent = browser.post(
            page(campaign), {"endpoints": [one.pk, two.pk], "samples": 1, "items": "missing"}
        )
    assert sent.status_code == 302
    job = GenerationJob.objects.get(campaign=campaign)
    assert job.status == GenerationJob.Status.FINISHED
    sources = [sorted(c["source"] for c in item.candidates) for item in campaign.items.all()]
    assert sources == [["model-one", "model-two"]] * 3
    progress = browser.get(page(campaign)).content.decode()
    assert "3 of 3 items written" in progress and "6 requests answered" in progress


def test_one_endpoint_sampled_with_the_diverse_option_keeps_the_listed_items_choice(
    researcher, standin, django_capture_on_commit_callbacks
):
    campaign, _ = prompts_only_campaign(researcher, items=3, preference_format="ranking")
    one = make_endpoint(researcher, standin, "model-one")
    with django_capture_on_commit_callbacks(execute=True):
        sent = signed_in(researcher).post(
            page(campaign),
            {
                "endpoints": [one.pk],
                "samples": 4,
                "items": "listed",
                "external_ids": "p0, p2",
                "diverse": "on",
                "keep": 3,
            },
        )
    assert sent.status_code == 302
    counts = {
        item.external_id: len(item.candidates) for item in Item.objects.filter(campaign=campaign)
    }
    assert counts == {"p0": 3, "p1": 0, "p2": 3}


@pytest.mark.parametrize(
    ("chosen", "form", "says"),
    [
        ([], {"samples": 1, "items": "missing"}, b"This field is required"),
        (
            ["model-one", "model-two"],
            {"samples": 1, "items": "listed", "external_ids": "p0\nnope"},
            b"No item &#x27;nope&#x27;",
        ),
        (["model-one"], {"samples": 1, "items": "missing"}, b"at least two candidates"),
        (["model-one"], {"samples": 2, "items": "missing", "diverse": "on"}, b"Keep at least two"),
    ],
)
def test_bad_choices_are_answered_beside_their_field_and_start_nothing(
    researcher, standin, chosen, form, says
):
    campaign, _ = prompts_only_campaign(researcher, items=2)
    endpoints = {
        name: make_endpoint(researcher, standin, name) for name in ("model-one", "model-two")
    }
    data = {**form, "endpoints": [endpoints[name].pk for name in chosen]}
    answer = signed_in(researcher).post(page(campaign), data)
    assert answer.status_code == 400 and says in answer.content
    assert not GenerationJob.objects.exists()


def test_only_the_campaigns_researchers_reach_the_page(researcher, standin):
    campaign, audience = prompts_only_campaign(researcher, items=1)
    assert signed_in(make_researcher(username="other")).get(page(campaign)).status_code == 404
    person = ready_participant(audience=audience, campaign=campaign)
    assert signed_in(person.user).get(page(campaign)).status_code == 403
