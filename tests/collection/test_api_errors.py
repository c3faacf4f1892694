"""One error shape everywhere, filters that name nothing are refused, and the release
list pages like every list."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import AudienceFactory, UserFactory, make_campaign, make_researcher

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def researcher():
    owner = make_researcher(username="owner")
    make_campaign(
        slug="mine", audiences={AudienceFactory(slug="crowd"): 1}, items=1, owners=[owner]
    )
    return owner


def test_a_serializer_refusal_has_the_house_shape_with_a_dotted_field(researcher):
    answer = api_for(researcher).post(
        "/api/v1/campaigns/mine/exports/", {"formats": ["jsonl", "tiff"]}, format="json"
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == "formats.1" and body["code"] == "invalid_choice"
    assert "tiff" in body["detail"]
    assert set(body) <= {"detail", "code", "field", "errors"}


def test_several_bad_inputs_are_each_listed_in_the_same_shape(researcher):
    answer = api_for(researcher).post(
        "/api/v1/campaigns/mine/exports/",
        {"formats": ["tiff"], "kinds": ["nope"]},
        format="json",
    )
    body = answer.json()
    assert answer.status_code == 400
    assert {error["field"] for error in body["errors"]} == {"formats.0", "kinds.0"}
    assert {body["field"], body["detail"]} <= {
        value for error in body["errors"] for value in error.values()
    }


def test_not_found_and_not_authenticated_have_a_code_too(researcher):
    missing = api_for(researcher).get("/api/v1/campaigns/nope/releases/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    anonymous = APIClient().get("/api/v1/campaigns/")
    assert anonymous.status_code in (401, 403)
    assert set(anonymous.json()) == {"detail", "code"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/responses/?campaign=nope", "campaign"),
        ("/api/v1/responses/?audience=nope", "audience"),
        ("/api/v1/alerts/?campaign=nope", "campaign"),
        ("/api/v1/alerts/?audience=nope", "audience"),
        ("/api/v1/generation-jobs/?campaign=nope", "campaign"),
        ("/api/v1/campaigns/?status=nope", "status"),
        ("/api/v1/campaigns/?item_kind=nope", "item_kind"),
        ("/api/v1/audiences/?kind=nope", "kind"),
    ],
)
def test_a_filter_that_names_nothing_is_refused_naming_it(researcher, url, field):
    answer = api_for(researcher).get(url)
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == field


def test_someone_elses_campaign_is_refused_like_an_unknown_one(researcher):
    other = make_researcher(username="other")
    mine = api_for(researcher).get("/api/v1/responses/?campaign=mine")
    assert mine.status_code == 200 and mine.json()["count"] == 0
    theirs = api_for(other).get("/api/v1/responses/?campaign=mine")
    assert theirs.status_code == 400 and theirs.json() == api_for(other).get(
        "/api/v1/responses/?campaign=nope"
    ).json() | {"detail": "No campaign 'mine' among those you can see."}
    assert api_for(UserFactory()).get("/api/v1/responses/").status_code == 200


def test_the_schema_describes_every_refusal_with_the_error_shape(researcher):
    admin = UserFactory(is_staff=True)
    schema = api_for(admin).get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "code"]
    refusal = schema["paths"]["/api/v1/campaigns/{slug}/exports/"]["post"]["responses"]["400"]
    assert refusal["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
