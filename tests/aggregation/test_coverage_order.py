"""The coverage plot and table follow the audience schema's order of values (18-24,
25-44, 45-64, 65+), not the order PostgreSQL keeps a JSON object's keys in (by length
first, so "65+" came before "45-64"): on the campaign page, in its strata chart, and in
the release's metrics.json that the card's coverage plot is drawn from."""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection.models import Audience
from tests.factories import AudienceFactory, make_campaign, make_researcher, ready_participant
from tests.helpers import respond

pytestmark = pytest.mark.django_db

BANDS = ["18-24", "25-44", "45-64", "65+"]


@pytest.fixture
def campaign():
    cache.clear()
    owner = make_researcher(username="owner")
    audience = AudienceFactory(
        slug="uk-age",
        name="UK by age",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=[{"name": "age", "label": "Age", "choices": BANDS}],
        # Stored as jsonb: its keys come back shortest first ("65+" before the rest).
        target_marginals={"age": {"65+": 0.25, "45-64": 0.25, "25-44": 0.3, "18-24": 0.2}},
    )
    audience.refresh_from_db()
    assert next(iter(audience.target_marginals["age"])) == "65+"
    campaign = make_campaign(audiences={audience: 8}, items=3, owners=[owner], slug="ages")
    items = list(campaign.items.order_by("id"))
    for n in range(8):
        person = ready_participant(
            audience=audience, campaign=campaign, attributes={"age": BANDS[n % 4]}
        )
        respond(person, campaign, audience, items, lambda item: {"choice": "a"})
    campaign.owner = owner
    yield campaign
    cache.clear()


def in_order(text: str, labels: list[str]) -> list[str]:
    return sorted(labels, key=lambda label: text.index(label))


def test_the_campaign_page_and_its_strata_chart_list_age_bands_in_the_schemas_order(
    client, campaign
):
    client.force_login(campaign.owner)
    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    rows = re.findall(r'data-stratum="age=([^"]+)"', html)
    assert rows == BANDS
    chart = next(
        url.replace("&amp;", "&")
        for url in re.findall(r'<img src="([^"]+)"', html)
        if "/charts/strata-" in url
    )
    svg = client.get(chart)
    assert svg.status_code == 200
    labels = re.findall(r">(18-24|25-44|45-64|65\+)<", svg.content.decode())
    # A horizontal bar chart lists its bars top-down in the SVG: the schema's order.
    assert list(dict.fromkeys(labels)) == BANDS


def test_the_release_coverage_that_the_plot_is_drawn_from_follows_the_schema(
    client, campaign, settings, tmp_path
):
    settings.RELEASES_ROOT = tmp_path
    job = jobs.export_job_create(campaign=campaign, enqueue=False, formats=["jsonl"])
    job = jobs.export_job_run(job_id=job.pk)
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    client.force_login(campaign.owner)
    url = f"/campaigns/{campaign.slug}/releases/{job.version}/files/metrics.json"
    answer = client.get(url)
    assert answer.status_code == 200
    document = json.loads(
        b"".join(answer.streaming_content) if answer.streaming else answer.content
    )
    values = document["metrics"]["audiences"]["uk-age"]["coverage"]["attributes"]["age"]["values"]
    assert [row["value"] for row in values] == BANDS
    assert [row["target_share"] for row in values] == [0.2, 0.3, 0.25, 0.25]
    card = client.get(f"/campaigns/{campaign.slug}/releases/{job.version}/")
    assert card.status_code == 200
    assert "plots/coverage.png" in card.content.decode()
