"""The coverage dashboard and a researcher's campaign page: the numbers they show are the
metrics' numbers, only the right people see them, and the charts are safe and stable."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pandas as pd
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.template.defaultfilters import floatformat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aggregation import dashboard, metrics
from aggregation.models import CoverageAlert, MetricsSnapshot
from aggregation.monitoring import selectors as monitoring
from aggregation.release import pipeline
from collection.models import Audience, Campaign, Response
from collection.selectors import campaign_progress
from tests.factories import (
    AudienceFactory,
    UserFactory,
    make_campaign,
    make_researcher,
    ready_participant,
)
from tests.helpers import build_board_campaign, respond

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def researcher():
    return make_researcher(username="owner")


@pytest.fixture
def board_campaign(researcher):
    return build_board_campaign(researcher)


# Reading the page ------------------------------------------------------------------


class Tables(HTMLParser):
    """Tables by their data-table name: rows with their data-* attributes and cell texts."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._metric: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": attrs, "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"attrs": attrs, "cells": [], "metrics": {}})
        elif tag in ("td", "th") and self.tables and self.tables[-1]["rows"]:
            self._cell, self._metric = [], attrs.get("data-metric")

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join(" ".join(self._cell).split())
            row = self.tables[-1]["rows"][-1]
            row["cells"].append(text)
            if self._metric:
                row["metrics"][self._metric] = text
            self._cell = None

    def rows(self, name: str, **attrs) -> list[dict]:
        found = []
        for table in self.tables:
            if table["attrs"].get("data-table") != name:
                continue
            for row in table["rows"]:
                merged = {**table["attrs"], **row["attrs"]}
                if all(merged.get(f"data-{key}") == value for key, value in attrs.items()):
                    found.append(row)
        return found

    def metric(self, name: str, metric: str, **attrs) -> str:
        rows = self.rows(name, **attrs)
        assert len(rows) == 1, (name, attrs, rows)
        return rows[0]["metrics"][metric]


def percent(share: float) -> str:
    return f"{floatformat(share * 100, 1)}%"


def page(client, user, url: str) -> Tables:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return Tables(response.content.decode())


@pytest.fixture
def staff():
    return UserFactory(username="admin", is_staff=True)


# The numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["dashboard", "campaign page"])
def test_page_shows_the_numbers_campaign_metrics_computes(client, staff, board_campaign, where):
    url = "/dashboard/" if where == "dashboard" else f"/campaigns/{board_campaign.slug}/"
    tables = page(client, staff, url)
    expected = pipeline.campaign_metrics(
        campaign=board_campaign, options=monitoring.METRIC_OPTIONS
    )["audiences"]
    progress = {
        row["audience"]: row for row in campaign_progress(campaign=board_campaign)["audiences"]
    }

    for slug in ("everyone", "uk-adults", "ward", "alex"):
        coverage = expected[slug]["coverage"]
        cell = lambda metric, slug=slug: tables.metric("progress", metric, audience=slug)  # noqa: E731
        assert cell("items_at_k") == (
            f"{coverage['items_at_k']} of {coverage['items']} {percent(coverage['share_at_k'])}"
        )
        assert cell("responses") == str(coverage["responses"])
        assert cell("participants") == str(coverage["participants"])
        assert cell("largest_share") == percent(coverage["largest_participant_share"])
        assert cell("mean_per_item") == floatformat(coverage["responses_per_item_mean"], 2)
        slots = progress[slug]
        filled = round(slots["fill"] * slots["slots"])
        assert cell("fill") == f"{filled} of {slots['slots']} {percent(slots['fill'])}"
        choice = expected[slug]["agreement"]["choice"]
        row = {"audience": slug, "judgement": "choice"}
        shown = tables.metric("agreement", "alpha", **row)
        assert tables.metric("agreement", "pairable_units", **row) == str(choice["pairable_units"])
        if choice["too_few_overlapping_judgements"]:
            assert shown.startswith("too few overlapping judgements")
        else:
            alpha = choice["alpha_nominal"]
            assert shown == ("–" if alpha is None else floatformat(alpha, 3))

    assert expected["ward"]["coverage"]["items_at_k"] == 10  # the engine filled every slot
    assert progress["ward"]["fill"] == 1.0


def test_strata_shares_and_alpha_match_the_pure_metric_functions(client, staff, board_campaign):
    tables = page(client, staff, f"/campaigns/{board_campaign.slug}/")
    public = Audience.objects.get(slug="uk-adults")
    ages = pd.Series(
        [
            membership.attributes["age_band"]
            for membership in public.memberships.order_by("participant_id")
        ]
    )
    shares = metrics.attribute_shares(ages, targets=public.target_marginals["age_band"])
    for value, row in shares.iterrows():
        stratum = f"age_band={value}"
        assert tables.metric("strata", "observed", audience="uk-adults", stratum=stratum) == (
            percent(row["observed_share"])
        )
        assert tables.metric("strata", "target", audience="uk-adults", stratum=stratum) == (
            percent(row["target_share"])
        )
        assert tables.metric("strata", "count", audience="uk-adults", stratum=stratum) == str(
            int(row["count"])
        )
    # 2 of 12 against a target of half: under-covered; 10 of 12 is over, not under.
    assert tables.metric("strata", "status", audience="uk-adults", stratum="age_band=40+") == (
        "under-covered"
    )
    assert tables.metric("strata", "status", audience="uk-adults", stratum="age_band=18-39") == "ok"

    votes = pd.DataFrame(
        Response.objects.filter(campaign=board_campaign, audience=public).values(
            "item_id", "participant_id", "payload"
        )
    )
    long = pd.DataFrame(
        {
            "unit_id": votes["item_id"],
            "rater_id": votes["participant_id"],
            "value": [payload["choice"] for payload in votes["payload"]],
        }
    )
    alpha = metrics.krippendorff_alpha(long, level="nominal")
    shown = tables.metric("agreement", "alpha", audience="uk-adults", judgement="choice")
    assert shown == floatformat(alpha, 3)


def test_dominant_annotators_are_listed_with_the_metrics_largest_share(
    client, staff, researcher, board_campaign
):
    keen = board_campaign.test_keen
    coverage = pipeline.campaign_metrics(
        campaign=board_campaign, options=monitoring.METRIC_OPTIONS
    )["audiences"]["everyone"]["coverage"]
    assert coverage["responses"] == 30 and coverage["participants"] == 11

    tables = page(client, staff, "/dashboard/")
    # Not the group's or the dyad's members, though each has a third or all of theirs.
    [row] = [row for row in tables.rows("dominance") if "data-participant" in row["attrs"]]
    assert row["attrs"]["data-participant"] == str(keen.pk)
    assert row["cells"][1] == f"#{keen.pk} ({keen.user.username})"  # staff see the username
    assert row["metrics"]["share"] == percent(coverage["largest_participant_share"])
    assert row["metrics"]["responses"] == "10 of 30"

    # The campaign's researcher sees the participant number only.
    tables = page(client, researcher, f"/campaigns/{board_campaign.slug}/")
    [row] = tables.rows("dominance", participant=str(keen.pk))
    assert row["cells"][1] == f"#{keen.pk}"


def test_responses_per_day_add_up_to_the_submissions_of_the_last_14_days(
    client, staff, board_campaign
):
    tables = page(client, staff, f"/campaigns/{board_campaign.slug}/")
    rows = tables.rows("daily")
    days = [row for row in rows if row["cells"] and row["cells"][0] != "Day"]
    assert len(days) == monitoring.DAYS
    total = sum(int(row["cells"][-1]) for row in days)
    assert total == Response.objects.filter(campaign=board_campaign).count()
    # The oldest responses were given three days ago: three days back has a bar, older not.
    by_day = [int(row["cells"][-1]) for row in days]
    assert by_day[-4] > 0 and sum(by_day[:-4]) == 0


# Who sees what ---------------------------------------------------------------------


def test_dashboard_is_for_staff_and_the_campaign_page_for_its_owners(client, board_campaign, staff):
    slug = board_campaign.slug
    pages = [
        "/dashboard/",
        "/campaigns/",
        f"/campaigns/{slug}/",
        f"/campaigns/{slug}/charts/daily.svg",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url

    annotator = board_campaign.test_keen.user
    client.force_login(annotator)
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/campaigns/").status_code == 403
    assert client.get(f"/campaigns/{slug}/").status_code == 404
    assert client.get(f"/campaigns/{slug}/charts/daily.svg").status_code == 404

    other = make_researcher(username="other-researcher")
    theirs = make_campaign(audiences={}, items=0, owners=[other], slug="their-campaign")
    client.force_login(other)
    assert client.get("/dashboard/").status_code == 403
    assert client.get(f"/campaigns/{slug}/").status_code == 404
    assert client.get(f"/campaigns/{slug}/charts/progress.svg").status_code == 404
    listing = client.get("/campaigns/").content.decode()
    assert "their-campaign" in listing and slug not in listing

    owner = board_campaign.owners.get()
    client.force_login(owner)
    assert client.get("/dashboard/").status_code == 403
    assert client.get(f"/campaigns/{slug}/").status_code == 200
    assert client.get(f"/campaigns/{theirs.slug}/").status_code == 404
    listing = client.get("/campaigns/").content.decode()
    assert slug in listing and "their-campaign" not in listing

    client.force_login(staff)
    for url in pages:
        assert client.get(url).status_code == 200, url
    assert client.get(f"/campaigns/{theirs.slug}/").status_code == 200


def test_the_campaign_page_lists_releases_and_starts_one(
    client, researcher, board_campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    client.force_login(researcher)
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    assert "No release yet." in html
    assert f'action="/campaigns/{board_campaign.slug}/releases/"' in html
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/campaigns/{board_campaign.slug}/releases/")
    assert started.status_code == 302
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    _header, row = Tables(html).rows("releases")
    assert row["cells"][:2] == ["v1", "Succeeded"]
    assert f"/campaigns/{board_campaign.slug}/releases/1/download/" in html
    assert "board-pairs-v1.zip" in html


# Charts ------------------------------------------------------------------------------


def chart_urls(html: str) -> list[str]:
    return [url.replace("&amp;", "&") for url in re.findall(r'<img src="([^"]+)"', html)]


def test_every_chart_has_a_text_alternative_and_is_a_deterministic_svg(
    client, staff, board_campaign
):
    client.force_login(staff)
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    images = re.findall(r"<img [^>]*>", html)
    names = {re.search(r"/charts/([a-z0-9-]+)\.svg", image).group(1) for image in images}
    assert names == {"progress", "daily", "strata-uk-adults"}
    for image in images:
        alt = re.search(r'alt="([^"]*)"', image).group(1)
        assert len(alt) > 40
    assert "40+ 17% against 50% (under-covered)" in html

    for url in chart_urls(html):
        first = client.get(url)
        assert first.status_code == 200 and first["Content-Type"] == "image/svg+xml"
        assert "immutable" in first["Cache-Control"]
        assert "default-src 'none'" in first["Content-Security-Policy"]
        body = first.content
        assert body.startswith(b"<?xml") and b"<svg" in body
        cache.clear()
        assert client.get(url).content == body  # drawn again: the same bytes


def test_labels_that_look_like_markup_stay_text(client, staff, researcher):
    schema = [{"name": "group", "label": "<b>Group</b>", "choices": ["<script>x()</script>", "b"]}]
    public = AudienceFactory(
        slug="tricky",
        name="<img src=x onerror=alert(1)>",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=schema,
        target_marginals={"group": {"<script>x()</script>": 0.5, "b": 0.5}},
    )
    campaign = make_campaign(audiences={public: 2}, items=2, owners=[researcher], slug="tricky")
    person = ready_participant(
        audience=public, campaign=campaign, attributes={"group": "<script>x()</script>"}
    )
    respond(person, campaign, public, list(campaign.items.all()), lambda item: {"choice": "a"})
    client.force_login(staff)
    html = client.get("/campaigns/tricky/").content.decode()
    assert "<script>x()</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    for url in chart_urls(html):
        svg = client.get(url).content.decode()
        assert "<script" not in svg and "<img" not in svg and "<b>" not in svg


# Stored metrics ------------------------------------------------------------------------


def test_a_large_campaign_is_not_computed_on_a_page_view(
    client, staff, board_campaign, monkeypatch
):
    monkeypatch.setattr(dashboard.build, "INLINE_LIMIT", 0)
    client.force_login(staff)
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    assert "metrics not computed yet" in html
    assert not MetricsSnapshot.objects.filter(campaign=board_campaign).exists()
    tables = Tables(html)
    assert tables.metric("progress", "items_at_k", audience="uk-adults") == "–"

    call_command("record_alerts", "--campaign", board_campaign.slug)
    snapshot = MetricsSnapshot.objects.get(campaign=board_campaign)
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    assert "metrics not computed yet" not in html
    coverage = snapshot.metrics["audiences"]["uk-adults"]["coverage"]
    assert Tables(html).metric("progress", "responses", audience="uk-adults") == str(
        coverage["responses"]
    )

    # A stale snapshot of a large campaign is shown as it is, with its time.
    MetricsSnapshot.objects.filter(pk=snapshot.pk).update(
        computed_at=timezone.now() - timedelta(hours=2)
    )
    monitoring.board_cache_clear(campaign_id=board_campaign.pk)
    client.get(f"/campaigns/{board_campaign.slug}/")
    assert MetricsSnapshot.objects.get(pk=snapshot.pk).computed_at < timezone.now() - timedelta(
        hours=1
    )


def a_late_participant_answers_everything(campaign: Campaign) -> None:
    everyone = Audience.objects.get(slug="everyone")
    late = ready_participant(audience=everyone, campaign=campaign)
    respond(late, campaign, everyone, list(campaign.items.all()), lambda item: {"choice": "a"})


def test_a_small_campaign_with_stale_metrics_is_recomputed_on_view(client, staff, board_campaign):
    call_command("record_alerts", "--campaign", board_campaign.slug)
    snapshot = MetricsSnapshot.objects.get(campaign=board_campaign)
    stale = timezone.now() - timedelta(hours=1)
    MetricsSnapshot.objects.filter(pk=snapshot.pk).update(computed_at=stale)
    a_late_participant_answers_everything(board_campaign)
    cache.clear()
    tables = page(client, staff, f"/campaigns/{board_campaign.slug}/")
    now = pipeline.campaign_metrics(campaign=board_campaign, options=monitoring.METRIC_OPTIONS)
    responses = now["audiences"]["everyone"]["coverage"]["responses"]
    assert responses > snapshot.metrics["audiences"]["everyone"]["coverage"]["responses"]
    assert tables.metric("progress", "responses", audience="everyone") == str(responses)
    # Shown, not stored: storing is the periodic check's work.
    assert MetricsSnapshot.objects.get(pk=snapshot.pk).computed_at == stale


def _writes(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]


def test_a_page_view_never_writes(client, staff, board_campaign):
    """Neither a campaign never checked (metrics computed for the page) nor one whose
    stored metrics are stale is written to by opening its pages: the dashboard, the
    campaign page, its charts and the campaign list."""
    client.force_login(staff)
    urls = ["/dashboard/", f"/campaigns/{board_campaign.slug}/", "/campaigns/"]
    board = dashboard.campaign_board(campaign=board_campaign, staff=True)
    urls += [
        f"/campaigns/{board_campaign.slug}/charts/{spec.name}.svg"
        for spec in [board.progress_chart, board.daily_chart]
    ]
    for stored in ("never checked", "stale"):
        if stored == "stale":
            call_command("record_alerts", "--campaign", board_campaign.slug)
            MetricsSnapshot.objects.filter(campaign=board_campaign).update(
                computed_at=timezone.now() - timedelta(hours=1)
            )
        for url in urls:
            cache.clear()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200, (stored, url)
            assert _writes(queries) == [], (stored, url)


def test_a_page_computing_metrics_lists_the_alerts_they_find_without_recording_them(
    client, staff, board_campaign
):
    client.force_login(staff)
    html = client.get(f"/campaigns/{board_campaign.slug}/").content.decode()
    assert "Open alerts (2)" in html
    assert "UK adults: Age band “40+” is 16.7% of participants against a target of 50.0%." in html
    html = client.get("/dashboard/").content.decode()
    assert 'Open alerts <span class="meta">(2)</span>' in html
    assert not CoverageAlert.objects.exists()


def test_only_open_campaigns_are_on_the_dashboard(client, staff, researcher, board_campaign):
    draft = make_campaign(audiences={}, items=0, owners=[researcher], slug="still-a-draft")
    Campaign.objects.filter(pk=draft.pk).update(status=Campaign.Status.DRAFT)
    client.force_login(staff)
    html = client.get("/dashboard/").content.decode()
    assert 'id="board-board-pairs"' in html and "still-a-draft" not in html


def test_responses_per_day_add_what_came_in_since_the_last_check(
    client, staff, board_campaign, monkeypatch
):
    monkeypatch.setattr(dashboard.build, "INLINE_LIMIT", 0)
    call_command("record_alerts")
    a_late_participant_answers_everything(board_campaign)
    tables = page(client, staff, f"/campaigns/{board_campaign.slug}/")
    days = [row for row in tables.rows("daily") if row["cells"][0] != "Day"]
    assert sum(int(row["cells"][-1]) for row in days) == (
        Response.objects.filter(campaign=board_campaign).count()
    )
    assert MetricsSnapshot.objects.get(campaign=board_campaign).daily["until"]


def test_the_overview_has_a_row_per_campaign_and_audience(client, staff, board_campaign):
    tables = page(client, staff, "/dashboard/")
    rows = [row for row in tables.rows("overview") if "data-audience" in row["attrs"]]
    assert [row["attrs"]["data-audience"] for row in rows] == [
        "everyone",
        "uk-adults",
        "ward",
        "alex",
    ]  # widest scope first
    public = next(row for row in rows if row["attrs"]["data-audience"] == "uk-adults")
    assert "Age band 40+" in public["cells"]
    everyone = next(row for row in rows if row["attrs"]["data-audience"] == "everyone")
    assert everyone["cells"][-3] == "1"  # one dominant annotator
