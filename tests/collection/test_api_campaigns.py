"""Campaigns over the API: created with their targets in one call, listed in a fixed
number of queries."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from collection import services
from collection.models import Campaign, CampaignAudience, Slot
from collection.permissions import RESEARCHERS_GROUP
from tests.factories import AudienceFactory, CampaignFactory, UserFactory

pytestmark = pytest.mark.django_db


def researcher_client() -> tuple[APIClient, object]:
    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    client = APIClient()
    client.force_authenticate(user)
    return client, user


def campaign_with_targets(owner, audiences) -> Campaign:
    campaign = CampaignFactory(owners=[owner])
    for audience in audiences:
        services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=2)
    return campaign


def test_listing_campaigns_takes_as_many_queries_for_six_campaigns_as_for_one():
    client, user = researcher_client()
    audiences = [AudienceFactory(), AudienceFactory()]
    campaign_with_targets(user, audiences)
    with CaptureQueriesContext(connection) as one:
        first = client.get("/api/v1/campaigns/")
    for _ in range(5):
        campaign_with_targets(user, audiences)
    with CaptureQueriesContext(connection) as six:
        listed = client.get("/api/v1/campaigns/")
    assert first.status_code == listed.status_code == 200
    assert len(listed.json()["results"]) == 6
    assert all(len(row["targets"]) == 2 for row in listed.json()["results"])
    assert len(six) == len(one)


def test_listed_targets_are_ordered_by_audience_as_in_the_detail():
    client, user = researcher_client()
    audiences = [AudienceFactory(slug="zeta"), AudienceFactory(slug="alpha")]
    campaign = campaign_with_targets(user, audiences)
    listed = client.get("/api/v1/campaigns/").json()["results"][0]["targets"]
    detail = client.get(f"/api/v1/campaigns/{campaign.slug}/").json()["targets"]
    assert [t["audience"] for t in listed] == ["alpha", "zeta"]
    assert listed == detail


def test_a_campaign_created_with_targets_has_them_and_their_slots_from_the_start():
    client, _ = researcher_client()
    everyone, public = AudienceFactory(slug="everyone"), AudienceFactory(slug="uk")
    created = client.post(
        "/api/v1/campaigns/",
        {
            "slug": "pairs",
            "name": "Pairs",
            "item_kind": "preference",
            "targets": [
                {"audience": "everyone", "overlap_k": 3},
                {"audience": "uk", "overlap_k": 5, "quota_release_at": "2030-01-01T00:00:00Z"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["targets"] == [
        {"audience": "everyone", "overlap_k": 3, "quota_release_at": None},
        {"audience": "uk", "overlap_k": 5, "quota_release_at": "2030-01-01T00:00:00Z"},
    ]
    targets = CampaignAudience.objects.filter(campaign__slug="pairs")
    assert {(t.audience_id, t.overlap_k) for t in targets} == {(everyone.pk, 3), (public.pk, 5)}


def test_a_refused_target_leaves_no_campaign_behind():
    audience = AudienceFactory()
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_create(
            slug="half-made",
            name="Half made",
            item_kind="preference",
            targets=[
                services.CampaignTarget(audience=AudienceFactory(), overlap_k=2),
                services.CampaignTarget(audience=audience, overlap_k=0),
            ],
        )
    assert refused.value.field == "targets.1.overlap_k"
    assert not Campaign.objects.filter(slug="half-made").exists()
    assert not Slot.objects.exists()
