"""Statistics show what they rest on: α with its pairable units and interval, "too few
overlapping judgements" instead of α when few units were judged twice, on the dashboard,
the campaign page, the card and the plots; Bradley–Terry with intervals; JSD with its
shared items.

The campaign has two audiences over 20 items: in `ward` (a group) one nurse judges every
item and a second only the first two, agreeing on both, so α = 1 rests on 2 units, as the
demo's Ward 7 group did; in `everyone` 12 people judge every item, so α rests on 20.
"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from aggregation.metrics import TOO_FEW
from aggregation.models import ExportJob, MetricsSnapshot
from aggregation.release import jobs, plots
from collection import services
from collection.models import Audience, Response
from tests.aggregation.test_dashboard import Tables
from tests.aggregation.test_release_rating import WORKED_EXAMPLE, rate, rating_campaign
from tests.factories import AudienceFactory, UserFactory, make_campaign, make_researcher
from tests.factories import ready_participant as joined
from tests.helpers import respond

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setting(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner():
    return make_researcher(username="ward-owner")


@pytest.fixture
def campaign(owner):
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    ward = AudienceFactory(slug="ward", name="Ward team", kind=Audience.Kind.GROUP)
    campaign = make_campaign(
        audiences={everyone: 12, ward: 2},
        items=20,
        owners=[owner],
        slug="ward-pairs",
        name="Ward pairs",
    )
    items = list(campaign.items.order_by("id"))
    for n in range(12):
        person = joined(audience=everyone, campaign=campaign)
        respond(
            person,
            campaign,
            everyone,
            items,
            lambda item, n=n: {"choice": "a" if (n + item.pk) % 3 else "b"},
        )
    first, second = (joined(audience=ward, campaign=campaign) for _ in range(2))
    by_parity = lambda item: {"choice": "ab"[item.pk % 2]}  # noqa: E731
    respond(first, campaign, ward, items, by_parity)
    respond(second, campaign, ward, items[:2], by_parity)
    return campaign


def build(campaign, capture, **fields) -> ExportJob:
    with capture(execute=True):
        job = jobs.export_job_create(campaign=campaign, **fields)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    return job


def released(settings, job) -> tuple[dict, str]:
    folder = settings.RELEASES_ROOT / job.release_path
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    return metrics, (folder / "README.md").read_text()


def page(client, user, url: str) -> Tables:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return Tables(response.content.decode())


@pytest.mark.parametrize("where", ["dashboard", "campaign page"])
def test_alpha_on_two_units_judged_twice_reads_too_few_and_alpha_on_twenty_is_shown(
    client, owner, campaign, where
):
    viewer = UserFactory(username="admin", is_staff=True) if where == "dashboard" else owner
    tables = page(
        client, viewer, "/dashboard/" if where == "dashboard" else "/campaigns/ward-pairs/"
    )

    ward = tables.rows("agreement", audience="ward", judgement="choice")[0]
    assert ward["metrics"]["alpha"].startswith("too few overlapping judgements")
    assert (ward["metrics"]["pairable_units"], ward["metrics"]["pairable_values"]) == ("2", "4")
    assert not any("1.000" in cell for cell in ward["cells"])

    everyone = tables.rows("agreement", audience="everyone", judgement="choice")[0]
    assert everyone["metrics"]["pairable_units"] == "20"
    assert everyone["metrics"]["pairable_values"] == "240"
    alpha = float(everyone["metrics"]["alpha"])
    low, high = (float(x) for x in everyone["metrics"]["alpha_ci95"].split(" to "))
    assert low <= alpha <= high

    if where == "dashboard":
        overview = tables.metric("overview", "alpha", campaign="ward-pairs", audience="ward")
        assert overview.startswith("too few overlapping judgements")
        shown = tables.metric("overview", "alpha", campaign="ward-pairs", audience="everyone")
        assert shown == f"{alpha:.3f} (n=20)"


def test_the_card_and_metrics_json_give_alpha_its_support_and_say_too_few(
    settings, campaign, django_capture_on_commit_callbacks
):
    job = build(campaign, django_capture_on_commit_callbacks)
    metrics, card = released(settings, job)

    ward = metrics["audiences"]["ward"]["agreement"]["choice"]
    # metrics.json keeps α, with what it rests on and the flag the card and pages obey.
    assert ward["alpha_nominal"] == 1.0
    assert (ward["pairable_units"], ward["pairable_values"]) == (2, 4)
    assert ward["too_few_overlapping_judgements"] is True
    assert ward["min_pairable_units"] == 10
    assert ward["alpha_nominal_ci95"] is None and ward["bootstrap_rounds"] == 0
    assert (
        "- Agreement on choice: too few overlapping judgements: 2 items judged at least twice "
        "(4 judgements of them), fewer than the 10 needed to report Krippendorff's α." in card
    )
    assert "α (nominal) 1.000" not in card

    everyone = metrics["audiences"]["everyone"]["agreement"]["choice"]
    low, high = everyone["alpha_nominal_ci95"]
    assert everyone["too_few_overlapping_judgements"] is False
    assert (everyone["pairable_units"], everyone["bootstrap_rounds"]) == (20, 1000)
    assert low <= everyone["alpha_nominal"] <= high
    assert (
        f"α (nominal) {everyone['alpha_nominal']:.3f} (95% CI {low:.3f} to {high:.3f}), "
        "over 20 items judged at least twice (240 judgements of them)" in card
    )
    assert TOO_FEW == "too few overlapping judgements"


def test_bradley_terry_strengths_carry_intervals_and_divergence_its_shared_items(
    settings, campaign, django_capture_on_commit_callbacks
):
    metrics, card = released(settings, build(campaign, django_capture_on_commit_callbacks))
    pluralism = metrics["pluralism"]
    for slug, decided in (("everyone", 240), ("ward", 22)):
        strengths = pluralism["bradley_terry"][slug]
        intervals = pluralism["bradley_terry_ci95"][slug]
        assert pluralism["bradley_terry_support"][slug] == {
            "decided_pairs": decided,
            "sources": 2,
            "bootstrap_rounds": 100,
        }
        for source, (low, high) in intervals.items():
            assert low <= strengths[source] <= high
        assert f"from {decided:,} decided pairs, 100 rounds." in card
    (divergence,) = pluralism["divergence"]
    assert divergence["shared_items"] == 20  # every item has votes from both audiences
    assert "over 20 shared items" in card
    (tau,) = pluralism["kendall_tau"]
    # The ward's two sources won equally often: tied strengths, so τ is not defined.
    assert (tau["shared_sources"], tau["tau"]) == (2, None)
    assert (
        "orderings: not defined (fewer than two sources, or strengths tied), over the "
        "2 sources both rank." in card
    )
    consensus = pluralism["consensus"]
    best = consensus["top_items"][0]
    votes = Response.objects.filter(item_id=best["item_id"]).count()
    assert (best["votes"], consensus["items"]) == (votes, 20)
    assert f"from {votes:,} votes; 20 items scored" in card
    words = metrics["diversity"]["prompts"]["words"]
    assert words > 20 and f"over {words:,} words" in card


def test_the_agreement_plot_draws_no_number_for_too_few(
    settings, campaign, django_capture_on_commit_callbacks, tmp_path
):
    metrics, _ = released(settings, build(campaign, django_capture_on_commit_callbacks))

    def drawn(ward_alpha: float, everyone_alpha: float) -> bytes:
        changed = json.loads(json.dumps(metrics))
        changed["audiences"]["ward"]["agreement"]["choice"]["alpha_nominal"] = ward_alpha
        changed["audiences"]["everyone"]["agreement"]["choice"]["alpha_nominal"] = everyone_alpha
        path = tmp_path / f"{ward_alpha}-{everyone_alpha}.png"
        plots.agreement(changed, path)
        return path.read_bytes()

    # The ward's α (too few) leaves no mark on the plot; everyone's α is drawn.
    assert drawn(1.0, 0.1) == drawn(-0.3, 0.1)
    assert drawn(1.0, 0.1) != drawn(1.0, 0.5)


def test_the_minimum_is_an_export_option_and_bad_values_name_it(
    settings, owner, campaign, django_capture_on_commit_callbacks
):
    job = build(campaign, django_capture_on_commit_callbacks, options={"min_pairable_units": 2})
    metrics, card = released(settings, job)
    assert (
        metrics["audiences"]["ward"]["agreement"]["choice"]["too_few_overlapping_judgements"]
        is False
    )
    assert "α (nominal) 1.000" in card

    api = APIClient()
    api.force_authenticate(owner)
    for field, value in (("min_pairable_units", 0), ("seed", -1), ("seed", "x")):
        bad = api.post(
            "/api/v1/campaigns/ward-pairs/exports/", {"options": {field: value}}, format="json"
        )
        assert bad.status_code == 400 and bad.data["field"] == f"options.{field}"
    assert ExportJob.objects.count() == 1


def test_a_rating_campaign_page_shows_each_rubric_attributes_alpha_or_too_few(client):
    raters, few = AudienceFactory(slug="observers"), AudienceFactory(slug="few")
    campaign = rating_campaign({raters: 4, few: 2}, items=0, rubric=[], scale=(1, 5))
    services.items_create(
        campaign=campaign,
        rows=[
            {"external_id": unit, "prompt": f"Unit {unit}", "payload": {"response": unit}}
            for unit in WORKED_EXAMPLE
        ],
    )
    # Krippendorff's worked example as the observers' scores; in `few` two people score
    # every unit but only the first two together.
    scores = {
        unit: [None if v is None else {"overall": v} for v in values]
        for unit, values in WORKED_EXAMPLE.items()
    }
    rate(campaign, raters, scores)
    rate(
        campaign,
        few,
        {
            unit: [{"overall": 1 + u % 5}, {"overall": 1 + u % 5} if u < 2 else None]
            for u, unit in enumerate(WORKED_EXAMPLE)
        },
    )
    tables = page(client, campaign.owners.first(), f"/campaigns/{campaign.slug}/")
    overall = tables.rows("agreement", audience="observers", judgement="overall")[0]["metrics"]
    assert overall["alpha"] == "0.849"  # Krippendorff (2011): interval α of the example
    assert (overall["pairable_units"], overall["pairable_values"]) == ("11", "40")
    sparse = tables.rows("agreement", audience="few", judgement="overall")[0]["metrics"]
    assert sparse["alpha"].startswith("too few overlapping judgements")
    assert (sparse["pairable_units"], sparse["pairable_values"]) == ("2", "4")


def test_a_snapshot_stored_before_alpha_carried_its_support_reads_too_few(client, owner, campaign):
    # Snapshots stored by the periodic check before this change hold α without its
    # support; until the next check replaces them, pages do not show that α as a number.
    call_command("record_alerts")
    snapshot = MetricsSnapshot.objects.get(campaign=campaign)
    for report in snapshot.metrics["audiences"].values():
        report["agreement"]["choice"] = {
            key: value
            for key, value in report["agreement"]["choice"].items()
            if key in ("alpha_nominal", "percent_agreement", "units", "judgements")
        }
    snapshot.save()
    cache.clear()
    tables = page(client, owner, "/campaigns/ward-pairs/")
    for slug in ("ward", "everyone"):
        shown = tables.metric("agreement", "alpha", audience=slug, judgement="choice")
        assert shown.startswith("too few overlapping judgements")
