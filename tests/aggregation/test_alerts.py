"""Coverage alerts: the rules, recording them (idempotent, resolving), the periodic task,
the record_alerts command and who may read them through the API."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from aggregation import alerts, tasks
from aggregation.models import CoverageAlert, MetricsSnapshot
from aggregation.monitoring import services as monitoring
from collection.models import Audience, Campaign
from tests.factories import UserFactory, make_campaign, make_researcher, ready_participant
from tests.helpers import build_board_campaign, respond

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


@pytest.fixture
def researcher():
    return make_researcher(username="owner")


@pytest.fixture
def board_campaign(researcher):
    return build_board_campaign(researcher)


def open_alerts(campaign) -> set[tuple[str, str, str]]:
    return set(
        CoverageAlert.objects.filter(campaign=campaign, resolved_at__isnull=True).values_list(
            "audience__slug", "kind", "subject"
        )
    )


# The rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "target", "under"),
    [
        (0.27, 0.33, True),  # six points under
        (0.29, 0.33, False),  # four points under and 88 % of the target
        (0.015, 0.04, True),  # only 1.5 points under, but below 80 % of a small target
        (0.035, 0.04, False),  # 88 % of the target
        (0.50, 0.20, False),  # over the target is not under-covered
        (None, 0.20, False),  # nothing known
        (0.10, None, False),  # no target
        (0.0, 0.0, False),
    ],
)
def test_under_coverage_rule(observed, target, under):
    assert alerts.is_under_covered(observed, target, limits=alerts.Thresholds()) is under


@pytest.mark.parametrize(
    ("participants", "limit"),
    [(100, 0.10), (20, 0.10), (11, 2 / 11), (7, 2 / 7), (1, 1.0), (0, 1.0)],
)
def test_dominance_limit_grows_for_small_audiences(participants, limit):
    assert alerts.dominance_limit(participants, limits=alerts.Thresholds()) == pytest.approx(limit)


def test_findings_wait_for_enough_participants_and_responses():
    coverage = {
        "participants": 9,
        "responses": 29,
        "attributes": {
            "age_band": {
                "values": [
                    {"value": "40+", "count": 1, "observed_share": 0.1, "target_share": 0.5},
                ]
            }
        },
    }
    limits = alerts.Thresholds()
    top = [{"participant_id": 1, "responses": 20}]
    assert alerts.under_coverage_findings("p", "P", coverage, [], limits) == []
    assert alerts.dominance_findings("p", "P", coverage, top, limits) == []
    coverage = {**coverage, "participants": 10, "responses": 30}
    [under] = alerts.under_coverage_findings("p", "P", coverage, [], limits)
    assert under.subject == "age_band=40+"
    assert under.message == "P: age_band “40+” is 10.0% of participants against a target of 50.0%."
    [dominant] = alerts.dominance_findings("p", "P", coverage, top, limits)
    assert dominant.subject == "participant:1" and dominant.detail["share"] == pytest.approx(2 / 3)


def test_thresholds_come_from_settings(settings):
    settings.COVERAGE_THRESHOLDS = {"dominance_share": 0.25, "min_participants": 3}
    limits = alerts.thresholds()
    assert limits.dominance_share == 0.25 and limits.min_participants == 3
    assert limits.under_points == 0.05


# Recording -----------------------------------------------------------------------------


def test_the_check_records_each_finding_once_and_resolves_what_no_longer_holds(board_campaign):
    keen = board_campaign.test_keen
    first = monitoring.alerts_check_campaign(campaign=board_campaign)
    expected = {
        ("uk-adults", "under_coverage", "age_band=40+"),
        ("everyone", "dominance", f"participant:{keen.pk}"),
    }
    assert open_alerts(board_campaign) == expected
    assert (first.created, first.kept, first.resolved) == (2, 0, 0)
    alert = CoverageAlert.objects.get(kind="dominance")
    assert alert.message == (
        f"Everyone: participant #{keen.pk} gave 33.3% of the audience's responses "
        "(10 of 30; limit 18.2%)."
    )
    assert alert.detail["responses"] == 10 and alert.detail["participants"] == 11

    again = monitoring.alerts_check_campaign(campaign=board_campaign)
    assert (again.created, again.kept, again.resolved) == (0, 2, 0)
    assert CoverageAlert.objects.count() == 2
    assert MetricsSnapshot.objects.filter(campaign=board_campaign).count() == 1

    # Eight more people aged 40+ answer: 10 of 20 is on target, the alert resolves.
    public = Audience.objects.get(slug="uk-adults")
    items = list(board_campaign.items.order_by("id"))
    for _ in range(8):
        person = ready_participant(
            audience=public, campaign=board_campaign, attributes={"age_band": "40+"}
        )
        respond(person, board_campaign, public, items, lambda item: {"choice": "a"})
    third = monitoring.alerts_check_campaign(campaign=board_campaign)
    assert (third.created, third.kept, third.resolved) == (0, 1, 1)
    assert open_alerts(board_campaign) == {("everyone", "dominance", f"participant:{keen.pk}")}
    resolved = CoverageAlert.objects.get(kind="under_coverage")
    assert resolved.resolved_at is not None

    # The keen annotator withdraws: their responses leave the metrics, and the alert.
    from collection import services as collection_services

    collection_services.participant_withdraw(participant=keen, campaign=board_campaign)
    fourth = monitoring.alerts_check_campaign(campaign=board_campaign)
    assert fourth.resolved == 1 and open_alerts(board_campaign) == set()


def test_a_problem_that_returns_gets_a_new_alert(board_campaign):
    monitoring.alerts_check_campaign(campaign=board_campaign)
    monitoring.alerts_record(campaign=board_campaign, found=[])
    assert open_alerts(board_campaign) == set()
    monitoring.alerts_check_campaign(campaign=board_campaign)
    assert len(open_alerts(board_campaign)) == 2
    assert CoverageAlert.objects.filter(resolved_at__isnull=False).count() == 2


def test_the_database_refuses_a_second_open_alert_for_the_same_subject(board_campaign):
    monitoring.alerts_check_campaign(campaign=board_campaign)
    alert = CoverageAlert.objects.get(kind="under_coverage")
    with pytest.raises(IntegrityError), transaction.atomic():
        CoverageAlert.objects.create(
            campaign=alert.campaign,
            audience=alert.audience,
            kind=alert.kind,
            subject=alert.subject,
            message="again",
        )


def test_closed_campaigns_alerts_are_resolved_and_drafts_not_checked(board_campaign, researcher):
    draft = make_campaign(audiences={}, items=0, owners=[researcher], slug="a-draft")
    Campaign.objects.filter(pk=draft.pk).update(status=Campaign.Status.DRAFT)
    results = monitoring.alerts_check_all()
    assert set(results) == {board_campaign.slug}
    assert len(open_alerts(board_campaign)) == 2
    Campaign.objects.filter(pk=board_campaign.pk).update(status=Campaign.Status.CLOSED)
    results = monitoring.alerts_check_all()
    assert results[board_campaign.slug].resolved == 2
    assert open_alerts(board_campaign) == set()


def test_the_periodic_task_and_the_command_record_alerts(board_campaign, capsys):
    result = tasks.coverage_alerts_record.delay().get()
    assert result == {board_campaign.slug: {"created": 2, "kept": 0, "resolved": 0}}
    call_command("record_alerts")
    assert "board-pairs: 0 new, 2 still open, 0 resolved" in capsys.readouterr().out
    call_command("record_alerts", "--campaign", board_campaign.slug)
    assert "board-pairs: 0 new, 2 still open" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no-such-campaign"):
        call_command("record_alerts", "--campaign", "no-such-campaign")
    assert CoverageAlert.objects.count() == 2


def test_the_dashboard_lists_open_alerts(client, board_campaign):
    monitoring.alerts_check_campaign(campaign=board_campaign)
    client.force_login(UserFactory(username="admin", is_staff=True))
    html = client.get("/dashboard/").content.decode()
    assert 'Open alerts <span class="meta">(2)</span>' in html
    assert "UK adults: Age band “40+” is 16.7% of participants against a target of 50.0%." in html


# The API -------------------------------------------------------------------------------


def api_for(user) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def test_alerts_api_permissions_and_filters(board_campaign, researcher):
    monitoring.alerts_check_campaign(campaign=board_campaign)
    other = make_researcher(username="other")
    theirs = make_campaign(
        audiences={Audience.objects.get(slug="uk-adults"): 2},
        items=0,
        owners=[other],
        slug="their-campaign",
    )
    CoverageAlert.objects.create(
        campaign=theirs,
        audience=Audience.objects.get(slug="uk-adults"),
        kind="under_coverage",
        subject="age_band=40+",
        message="theirs",
    )

    staff = api_for(UserFactory(username="admin", is_staff=True)).get("/api/v1/alerts/")
    assert staff.status_code == 200 and staff.data["count"] == 3

    mine = api_for(researcher).get("/api/v1/alerts/")
    assert mine.status_code == 200
    assert {row["campaign"] for row in mine.data["results"]} == {board_campaign.slug}
    row = next(row for row in mine.data["results"] if row["kind"] == "under_coverage")
    assert row["audience"] == "uk-adults" and row["is_open"] and row["resolved_at"] is None
    assert row["detail"]["target_share"] == 0.5

    one = api_for(researcher).get(f"/api/v1/alerts/?campaign={board_campaign.slug}&kind=dominance")
    assert [row["kind"] for row in one.data["results"]] == ["dominance"]
    refused = api_for(researcher).get("/api/v1/alerts/?campaign=their-campaign")
    assert refused.status_code == 400 and refused.json()["field"] == "campaign"
    assert api_for(other).get("/api/v1/alerts/?campaign=their-campaign").data["count"] == 1

    bad = api_for(researcher).get("/api/v1/alerts/?kind=nonsense")
    assert bad.status_code == 400 and bad.data["field"] == "kind"

    annotator = board_campaign.test_keen.user
    assert api_for(annotator).get("/api/v1/alerts/").status_code == 403
    assert api_for(None).get("/api/v1/alerts/").status_code in (401, 403)

    monitoring.alerts_record(campaign=board_campaign, found=[])
    assert api_for(researcher).get("/api/v1/alerts/").data["count"] == 0
    everything = api_for(researcher).get("/api/v1/alerts/?status=all")
    assert everything.data["count"] == 2
    assert all(not row["is_open"] for row in everything.data["results"])
    resolved = api_for(researcher).get("/api/v1/alerts/?status=resolved")
    assert resolved.data["count"] == 2


def test_alerts_api_is_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/alerts/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} >= {
        "campaign",
        "kind",
        "status",
    }


def test_a_check_finding_another_one_running_does_nothing(board_campaign):
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or None,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s, 0)", [monitoring.LOCK_NAMESPACE])
        assert monitoring.alerts_check_all() == {}
        # Unlock explicitly: closing the connection releases the lock only when the
        # server's session ends, which may be after the next line runs.
        other.execute("SELECT pg_advisory_unlock(%s, 0)", [monitoring.LOCK_NAMESPACE])
    assert set(monitoring.alerts_check_all()) == {board_campaign.slug}
