"""Item kinds are modules: a kind registered on its own is validated, shown and summarised;
and which campaigns an annotator may use is one rule for the pages and the API."""

import copy
import uuid
from collections.abc import Mapping

import pytest
from django import forms
from django.urls import reverse
from rest_framework.test import APIClient

from collection import kinds, services
from collection.models import Campaign, Consent, Response
from collection.payloads import PayloadError, mapping_field, no_unknown, text_field, whole_number
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db


class SingleRating(kinds.Kind):
    """A single response, rated 1 to 5: the throwaway kind this file adds."""

    name = "single_rating"
    label = "Single-response rating"
    competence = Campaign.Competence.BEHAVIOUR
    template_name = "single_rating.html"

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"response"}, "payload")
        return {"response": text_field(payload.get("response"), "payload.response", limit=500)}

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        raise PayloadError("expected", "Ratings have no attention checks.")

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"rating", "rationale", "confidence"}, "")
        if payload.get("rating") in (None, ""):
            raise PayloadError("rating", "Rate the response.")
        return {"rating": whole_number(payload["rating"], "rating", 1, 5)}

    def form_fields(self, form) -> dict[str, forms.Field]:
        return {
            "rating": forms.ChoiceField(
                label="How good is this response?",
                choices=[(n, n) for n in range(1, 6)],
                required=False,
                widget=forms.RadioSelect,
            )
        }

    def form_payload(self, form, data: dict) -> dict:
        return {"rating": data.get("rating", "")}

    def annotator_item(self, item) -> dict:
        return {"response": item.payload["response"]}

    def summary(self, response) -> list[tuple[str, str]]:
        return [("Rating", f"{mapping_field(response.payload, 'payload')['rating']} of 5")]


TEMPLATE = """{% extends "collection/annotate.html" %}
{% block prompt %}{{ block.super }}
<section class="judged"><h2>The response</h2>
  <div class="text">{{ item.payload.response }}</div></section>
{% endblock prompt %}"""


@pytest.fixture
def single_rating(settings, tmp_path):
    (tmp_path / "single_rating.html").write_text(TEMPLATE)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates
    kinds.register(SingleRating())
    yield
    kinds.unregister(SingleRating.name)


def test_a_kind_registered_alone_is_validated_shown_on_the_annotate_page_and_summarised(
    client, single_rating
):
    audience = AudienceFactory()
    campaign = services.campaign_create(
        slug="rate", name="Rate", item_kind="single_rating", targets={audience: 1}
    )
    assert campaign.competence == Campaign.Competence.BEHAVIOUR
    with pytest.raises(services.ServiceError) as refused:
        services.items_create(campaign=campaign, rows=[{"prompt": "Hi", "payload": {}}])
    assert refused.value.field == "payload.response"
    services.items_create(
        campaign=campaign, rows=[{"prompt": "Say hello.", "payload": {"response": "Hello!"}}]
    )
    services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    participant = ready_participant(audience=audience, campaign=campaign)
    client.force_login(participant.user)

    page = client.get(reverse("annotate", args=[campaign.slug]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Say hello." in text and "Hello!" in text and "How good is this response?" in text
    assignment = page.context["assignment"].pk
    form = {"assignment": assignment, "idempotency_key": uuid.uuid4(), "time_on_task_ms": 900}

    refused = client.post(reverse("submit", args=[campaign.slug]), {**form, "rating": ""})
    assert refused.status_code == 400 and "Rate the response." in refused.content.decode()
    api = APIClient()
    api.force_authenticate(participant.user)
    refused = api.post(
        f"/api/v1/assignments/{assignment}/submit/",
        {"payload": {"rating": 9}, "time_on_task_ms": 900, "idempotency_key": str(uuid.uuid4())},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "rating" and "between 1 and 5" in str(refused.json())
    assert not Response.objects.exists()

    saved = client.post(reverse("submit", args=[campaign.slug]), {**form, "rating": "4"})
    assert saved.status_code == 302
    assert Response.objects.get().payload == {"rating": 4}
    submissions = client.get(reverse("submissions")).content.decode()
    assert "Rating" in submissions and "4 of 5" in submissions


def test_an_unknown_kind_is_refused_naming_the_field():
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_create(slug="x", name="X", item_kind="single_rating")
    assert refused.value.field == "item_kind"


def test_the_built_in_kinds_are_the_registry():
    assert [kind.name for kind in kinds.all()] == Campaign.ItemKind.values
    assert kinds.choices() == Campaign.ItemKind.choices


# Which campaigns an annotator may use ----------------------------------------------------


@pytest.fixture
def member_of_a_draft():
    audience = AudienceFactory()
    draft = make_campaign(audiences={audience: 1}, items=1, status=Campaign.Status.DRAFT)
    participant = ready_participant(audience=audience)
    return participant, draft


@pytest.mark.parametrize(
    "path",
    ["/api/v1/campaigns/{slug}/consent/", "/api/v1/campaigns/{slug}/next/"],
)
def test_a_draft_campaign_is_not_found_through_the_api(member_of_a_draft, path):
    participant, draft = member_of_a_draft
    client = APIClient()
    client.force_authenticate(participant.user)
    answer = client.post(path.format(slug=draft.slug))
    assert answer.status_code == 404
    assert not Consent.objects.filter(participant=participant).exists()


def test_withdrawing_from_a_draft_campaign_is_not_found_through_the_api(member_of_a_draft):
    participant, draft = member_of_a_draft
    client = APIClient()
    client.force_authenticate(participant.user)
    answer = client.post("/api/v1/withdrawals/", {"campaign": draft.slug}, format="json")
    assert answer.status_code == 404
    assert not participant.withdrawals.exists()


@pytest.mark.parametrize("name", ["consent", "annotate"])
def test_a_draft_campaign_is_not_found_on_the_pages(client, member_of_a_draft, name):
    participant, draft = member_of_a_draft
    client.force_login(participant.user)
    assert client.get(reverse(name, args=[draft.slug])).status_code == 404


@pytest.mark.parametrize("status", [Campaign.Status.PAUSED, Campaign.Status.CLOSED])
def test_paused_and_closed_campaigns_stay_reachable_through_both_doors(client, status):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1, status=status)
    participant = ready_participant(audience=audience, campaign=campaign)
    api = APIClient()
    api.force_authenticate(participant.user)
    answer = api.post(f"/api/v1/campaigns/{campaign.slug}/next/")
    assert answer.status_code == 200 and answer.json()["code"] == "not_open"
    client.force_login(participant.user)
    assert client.get(reverse("annotate", args=[campaign.slug])).status_code == 200
