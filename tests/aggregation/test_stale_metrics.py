"""Metrics that go stale without `make beat`: a page says how old they are, computes them
for a small campaign, and for a large one asks a worker for a refresh (never writing
itself); and the strata table does not call an empty stratum "ok"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from aggregation import dashboard, tasks
from aggregation.models import MetricsSnapshot
from aggregation.monitoring import selectors as monitoring
from collection.models import Audience
from tests.aggregation.test_dashboard import Tables
from tests.factories import UserFactory, make_campaign, make_researcher, public_age_audience
from tests.helpers import build_board_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner():
    return make_researcher(username="owner")


def age_text(html: str) -> str:
    start = html.index('data-metric="age"')
    return html[start : html.index("</span>", html.index("</time>", start))]


def test_stale_metrics_of_a_large_campaign_say_their_age_and_queue_one_refresh(
    client, owner, settings, monkeypatch
):
    campaign = build_board_campaign(owner)
    call_command("record_alerts", "--campaign", campaign.slug)
    snapshot = MetricsSnapshot.objects.get(campaign=campaign)
    MetricsSnapshot.objects.filter(pk=snapshot.pk).update(
        computed_at=timezone.now() - timedelta(hours=2)
    )
    monkeypatch.setattr(dashboard.build, "INLINE_LIMIT", 0)  # "large": not computed on view
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    # A worker takes the task: not run in this process (the tests' default; the autouse
    # `_tasks_in_process` fixture puts the setting back afterwards).
    tasks.coverage_alerts_record_campaign.app.conf.task_always_eager = False
    queued = []
    monkeypatch.setattr(tasks.coverage_alerts_record_campaign, "delay", queued.append)
    client.force_login(owner)

    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "2\xa0hours ago" in age_text(html) and "a refresh is due" in age_text(html)
    monitoring.board_cache_clear(campaign_id=campaign.pk)
    client.get(f"/campaigns/{campaign.slug}/")
    assert queued == [campaign.pk]  # once, however many views
    # The page itself wrote nothing; the task (what the worker runs) refreshes.
    assert MetricsSnapshot.objects.get(pk=snapshot.pk).computed_at < timezone.now() - timedelta(
        hours=1
    )
    tasks.coverage_alerts_record_campaign(campaign.pk)
    assert MetricsSnapshot.objects.get(campaign=campaign).computed_at > timezone.now() - timedelta(
        minutes=1
    )
    monitoring.board_cache_clear(campaign_id=campaign.pk)
    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "a refresh is due" not in age_text(html)


def test_without_a_broker_a_page_queues_nothing_and_says_how_old_the_numbers_are(
    client, owner, settings, monkeypatch
):
    campaign = build_board_campaign(owner)
    call_command("record_alerts", "--campaign", campaign.slug)
    MetricsSnapshot.objects.filter(campaign=campaign).update(
        computed_at=timezone.now() - timedelta(minutes=30)
    )
    monkeypatch.setattr(dashboard.build, "INLINE_LIMIT", 0)
    settings.CELERY_BROKER_URL = ""
    queued = []
    monkeypatch.setattr(tasks.coverage_alerts_record_campaign, "delay", queued.append)
    client.force_login(owner)
    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "30\xa0minutes ago" in age_text(html) and "manage.py record_alerts" in age_text(html)
    assert queued == []


def test_a_small_stale_campaign_is_computed_for_the_page_and_says_so(client, owner):
    campaign = build_board_campaign(owner)
    client.force_login(owner)
    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "metrics computed for this page" in html
    assert not MetricsSnapshot.objects.filter(campaign=campaign).exists()


def test_a_stratum_without_participants_is_not_called_ok(client, owner):
    audience = public_age_audience(slug="uk-adults", name="UK adults")
    campaign = make_campaign(audiences={audience: 2}, items=2, owners=[owner])
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    tables = Tables(client.get(f"/campaigns/{campaign.slug}/").content.decode())
    statuses = {
        row["attrs"].get("data-stratum"): row["metrics"]["status"]
        for row in tables.rows("strata", audience="uk-adults")
        if "data-stratum" in row["attrs"]
    }
    assert statuses and set(statuses.values()) == {"no participants yet"}, statuses
    assert Audience.objects.get(slug="uk-adults").memberships.count() == 0


def test_with_a_broker_but_eager_tasks_a_page_view_still_writes_nothing(
    client, owner, settings, monkeypatch
):
    """CI sets a broker URL while tests run tasks in-process: queueing the refresh there
    ran the periodic check inside the GET (a snapshot written by a page view)."""
    campaign = build_board_campaign(owner)
    monkeypatch.setattr(dashboard.build, "INLINE_LIMIT", 0)
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    client.force_login(owner)
    html = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "metrics not computed yet" in html
    assert not MetricsSnapshot.objects.filter(campaign=campaign).exists()
