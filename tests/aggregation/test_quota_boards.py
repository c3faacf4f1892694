"""Quotas live on the campaign page and the coverage dashboard: the engine's (a public
audience's target shares of the slots) and the panel studies' (places at entry), each
group's quota against what it holds (filled plus in flight), whether the quotas still
hold, and "Release quotas now" for the campaign's researchers."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from collection import services
from collection.models import Assignment
from panels import services as panel_services
from panels.models import PanelStudy
from tests.aggregation.test_dashboard import Tables
from tests.factories import (
    UserFactory,
    make_campaign,
    make_researcher,
    public_age_audience,
    ready_participant,
)
from tests.helpers import answer_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    cache.clear()
    owner = make_researcher(username="quota-owner")
    audience = public_age_audience(slug="uk-quota", name="UK quota")
    # 4 items x k=2: 8 slots, so each age band (50 %) may hold 4.
    campaign = make_campaign(audiences={audience: 2}, items=4, owners=[owner], slug="quota")
    young = ready_participant(
        audience=audience, campaign=campaign, attributes={"age_band": "18-39"}
    )
    assert answer_all(young, campaign, lambda item: {"choice": "a"}, limit=2) == 2
    # A third item leased and not answered yet: in flight.
    assert isinstance(services.assignment_next(participant=young, campaign=campaign), Assignment)
    campaign.owner = owner
    campaign.audience = audience
    yield campaign
    cache.clear()


def quota_rows(html: str, kind: str) -> dict[str, dict]:
    return {
        row["attrs"]["data-group"]: row["metrics"]
        for row in Tables(html).rows("quotas", quota=kind)
        if "data-group" in row["attrs"]
    }


@pytest.mark.parametrize("where", ["campaign page", "dashboard"])
def test_the_engines_quotas_show_each_group_against_its_slots(client, campaign, where):
    if where == "dashboard":
        client.force_login(UserFactory(is_staff=True))
        url = reverse("coverage_dashboard")
    else:
        client.force_login(campaign.owner)
        url = reverse("campaign_detail", args=[campaign.slug])
    html = client.get(url).content.decode()
    rows = quota_rows(html, "engine")
    assert rows["Age band 18-39"] == {
        "target": "50%",
        "places": "4",
        "filled": "2",
        "in_flight": "1",
        "held": "3",
        "left": "1",
    }
    assert rows["Age band 40+"]["held"] == "0" and rows["Age band 40+"]["left"] == "4"
    assert rows["total"]["places"] == "8" and rows["total"]["held"] == "3"
    assert "Holding" in html and "Release quotas now" in html


def test_a_full_group_is_marked_and_releasing_from_the_page_returns_to_it(client, campaign):
    young = ready_participant(
        audience=campaign.audience, campaign=campaign, attributes={"age_band": "18-39"}
    )
    assert isinstance(services.assignment_next(participant=young, campaign=campaign), Assignment)
    client.force_login(campaign.owner)
    page = reverse("campaign_detail", args=[campaign.slug])
    html = client.get(page).content.decode()
    assert quota_rows(html, "engine")["Age band 18-39"]["left"] == "0"
    assert '<span class="tag">full</span>' in html
    # A third 18-39 member waits: the band holds its 4 slots.
    third = ready_participant(
        audience=campaign.audience, campaign=campaign, attributes={"age_band": "18-39"}
    )
    assert not isinstance(
        services.assignment_next(participant=third, campaign=campaign), Assignment
    )
    release = reverse(
        "workbench:campaign_release_quotas", args=[campaign.slug, campaign.audience.slug]
    )
    answer = client.post(release, {"next": page})
    assert answer.status_code == 302 and answer.url == page
    html = client.get(page).content.decode()
    assert "Released" in html and "Release quotas now" not in html
    assert isinstance(services.assignment_next(participant=third, campaign=campaign), Assignment)
    # Off-site "next" is ignored.
    other = make_campaign(audiences={campaign.audience: 2}, items=1, owners=[campaign.owner])
    away = client.post(
        reverse("workbench:campaign_release_quotas", args=[other.slug, campaign.audience.slug]),
        {"next": "https://evil.example/"},
    )
    assert away.status_code == 302 and "evil" not in away.url


def test_someone_elses_campaign_shows_no_quotas_and_cannot_release_them(client, campaign):
    client.force_login(make_researcher(username="stranger"))
    assert client.get(reverse("campaign_detail", args=[campaign.slug])).status_code == 404
    release = reverse(
        "workbench:campaign_release_quotas", args=[campaign.slug, campaign.audience.slug]
    )
    assert client.post(release).status_code == 404
    assert campaign.targets.get().quota_release_at is None


def test_panel_studies_quotas_show_on_the_campaign_page_with_their_release(client, campaign):
    study = panel_services.panel_study_create(
        campaign=campaign,
        audience=campaign.audience,
        panel=PanelStudy.Panel.PROLIFIC,
        name="UK sample",
        places=10,
        judgements_required=2,
        created_by=campaign.owner,
    )
    client.force_login(campaign.owner)
    page = reverse("campaign_detail", args=[campaign.slug])
    html = client.get(page).content.decode()
    rows = quota_rows(html, "panel")
    assert rows["age_band 18-39"]["places"] == "5" and rows["age_band 18-39"]["held"] == "0"
    assert rows["total"]["places"] == "10"
    assert reverse("panel_study_detail", args=[study.pk]) in html
    answer = client.post(reverse("panel_release_quotas", args=[study.pk]), {"next": page})
    assert answer.status_code == 302 and answer.url == page
    study.refresh_from_db()
    assert study.quotas_released_at is not None
    html = client.get(page).content.decode()
    assert html.count("Release quotas now") == 1  # the engine's; the panel's is released
    # The study page says when, in the one date format shown in the viewer's time zone.
    study_page = client.get(reverse("panel_study_detail", args=[study.pk])).content.decode()
    assert '<strong>Quotas released</strong> <time datetime="' in study_page


def test_one_response_is_one_response_on_the_campaign_page(client, campaign):
    client.force_login(campaign.owner)
    html = client.get(reverse("campaign_detail", args=[campaign.slug])).content.decode()
    assert "2 responses in the last 14 days" in html
    campaign.responses.exclude(pk=campaign.responses.order_by("pk").first().pk).delete()
    cache.clear()
    html = client.get(reverse("campaign_detail", args=[campaign.slug])).content.decode()
    assert "1 response in the last 14 days" in html and "1 responses" not in html
