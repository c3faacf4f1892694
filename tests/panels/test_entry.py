"""Panel entry through the real pages: a Prolific-style link recruits into an audience
with no sign-up, resumes on re-entry, places people against quotas and sends them back
with the right code; researchers download completions."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from aggregation.models import ExportJob
from aggregation.release import jobs
from collection.models import Campaign, Membership, Participant, Response
from panels import services
from panels.models import PanelEntrant, PanelStudy
from tests.factories import make_campaign, make_researcher, public_age_audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    researcher = make_researcher(username="rita")
    # Invite-only (screened) public audience: only the panel's link lets people in.
    audience = public_age_audience(slug="uk", screened=True, targets={"18-39": 0.5, "40+": 0.5})
    campaign = make_campaign(audiences={audience: 3}, items=6, owners=[researcher])
    return services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=PanelStudy.Panel.PROLIFIC,
        name="UK sample",
        places=2,
        judgements_required=2,
        created_by=researcher,
    )


def _link(study, pid="5f1a", **extra) -> str:
    query = urlencode({"PROLIFIC_PID": pid, "STUDY_ID": "s1", "SESSION_ID": "x1", **extra})
    return f"{reverse('panel_entry', args=[study.token])}?{query}"


def _enter(client, study, pid="5f1a", **extra):
    """Open the link (GET writes nothing) and press Begin (POST)."""
    page = client.get(_link(study, pid, **extra))
    assert page.status_code == 200
    assert b"Begin" in page.content
    data = {"PROLIFIC_PID": pid, "STUDY_ID": "s1", "SESSION_ID": "x1", **extra}
    return client.post(reverse("panel_entry", args=[study.token]), data)


def _consent_and_screen(client, study, age="18-39"):
    response = client.post(reverse("panel_consent", args=[study.token]), {"agree": "on"})
    assert response.status_code == 302
    response = client.post(reverse("panel_screener", args=[study.token]), {"age_band": age})
    assert response.status_code == 302
    return client.get(response.url)


def _annotate_one(client, campaign: Campaign):
    page = client.get(reverse("annotate", args=[campaign.slug]))
    assert page.status_code == 200, page.content
    assignment = page.context["assignment"]
    response = client.post(
        reverse("submit", args=[campaign.slug]),
        {
            "assignment": assignment.pk,
            "idempotency_key": str(uuid.uuid4()),
            "time_on_task_ms": "2500",
            "choice": assignment.item.candidates[0]["id"],
        },
    )
    assert response.status_code == 302, response.content


def test_opening_the_link_writes_nothing_until_begin(client, study):
    assert client.get(_link(study)).status_code == 200
    assert PanelEntrant.objects.count() == 0
    assert Participant.objects.count() == 0


def test_a_link_without_the_panel_id_is_refused_naming_it(client, study):
    url = f"{reverse('panel_entry', args=[study.token])}?STUDY_ID=s1"
    response = client.get(url)
    assert response.status_code == 400
    assert b"PROLIFIC_PID" in response.content
    # Prolific's preview leaves the placeholder unfilled: also refused.
    response = client.post(
        reverse("panel_entry", args=[study.token]), {"PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}
    )
    assert response.status_code == 400
    assert PanelEntrant.objects.count() == 0


def test_a_bad_attribute_in_the_link_is_refused_naming_it(client, study):
    response = client.get(_link(study, age_band="12-17"))
    assert response.status_code == 400
    assert b"age_band" in response.content


def test_prolific_entrant_consents_screens_works_and_returns_with_the_completion_code(
    client, study
):
    response = _enter(client, study, age_band="40+")
    assert response.status_code == 302
    assert client.get(response.url).url == reverse("panel_consent", args=[study.token])
    screener = client.get(reverse("panel_screener", args=[study.token]))
    # The panel's value pre-fills the screener.
    assert screener.context["form"].initial == {"age_band": "40+"}
    page = _consent_and_screen(client, study, age="40+")
    assert page.status_code == 302 and page.url == reverse("annotate", args=[study.campaign.slug])
    entrant = PanelEntrant.objects.get()
    assert entrant.status == "working"
    assert entrant.panel_given == {"age_band": "40+"}
    assert entrant.panel_ids == {"STUDY_ID": "s1", "SESSION_ID": "x1"}
    membership = Membership.objects.get(participant=entrant.participant)
    assert membership.attributes == {"age_band": "40+"} and membership.audience == study.audience
    # No e-mail, and the username does not carry the panel id.
    user = entrant.participant.user
    assert user.email == "" and "5f1a" not in user.username and not user.has_usable_password()

    annotate = client.get(reverse("annotate", args=[study.campaign.slug]))
    assert b"Finish and return to the panel" in annotate.content
    # The header says who they are without their random username; no API tokens for them.
    assert b"Panel participant" in annotate.content
    assert user.username.encode() not in annotate.content
    assert reverse("api_tokens").encode() not in annotate.content
    # Finishing too early says how far they are and keeps them working.
    early = client.post(reverse("panel_finish", args=[study.token]), follow=True)
    assert b"You have done 0 of 2 judgements" in early.content
    _annotate_one(client, study.campaign)
    _annotate_one(client, study.campaign)
    done = client.post(reverse("panel_finish", args=[study.token]))
    assert done.status_code == 302
    assert done.url == f"https://app.prolific.com/submissions/complete?cc={study.completion_code}"
    entrant.refresh_from_db()
    assert entrant.status == "completed" and entrant.finished_at is not None


def test_entering_twice_with_the_same_id_resumes(client, study, django_user_model):
    _enter(client, study)
    _consent_and_screen(client, study)
    _annotate_one(client, study.campaign)
    other_browser = client.__class__()
    response = _enter(other_browser, study)
    assert PanelEntrant.objects.count() == 1
    assert django_user_model.objects.filter(username__startswith="panel-").count() == 1
    # Straight back to the work, with the judgement already done.
    assert other_browser.get(response.url).url == reverse("annotate", args=[study.campaign.slug])
    assert Response.objects.filter(participant__panel_entry__study=study).count() == 1


def test_over_quota_and_screened_out_entrants_get_their_own_codes(client, study):
    study.completion_url = "https://panel.example/done?code={code}"
    study.save()
    study.audience.target_marginals = {"age_band": {"18-39": 1.0, "40+": 0.0}}
    study.audience.save()
    first = client.__class__()
    _enter(first, study, pid="a")
    _consent_and_screen(first, study, age="18-39")
    second = client.__class__()
    _enter(second, study, pid="b")
    _consent_and_screen(second, study, age="18-39")
    # Both places are taken: a third 18-39 is over quota.
    third = client.__class__()
    _enter(third, study, pid="c")
    step = _consent_and_screen(third, study, age="18-39")
    assert step.url == reverse("panel_exit", args=[study.token])
    end = third.get(step.url)
    assert end.status_code == 200
    assert study.overquota_code.encode() in end.content
    assert f"https://panel.example/done?code={study.overquota_code}".encode() in end.content
    # 40+ has a share of 0: screened out, with the screen-out code.
    fourth = client.__class__()
    _enter(fourth, study, pid="d")
    _consent_and_screen(fourth, study, age="40+")
    end = fourth.get(reverse("panel_exit", args=[study.token]))
    assert study.screenout_code.encode() in end.content
    assert dict(PanelEntrant.objects.values_list("external_id", "status")) == {
        "a": "working",
        "b": "working",
        "c": "overquota",
        "d": "screened",
    }
    # Nobody over quota joined the audience.
    assert Membership.objects.filter(audience=study.audience).count() == 2


def test_a_given_up_place_is_free_again(client, study):
    first = client.__class__()
    _enter(first, study, pid="a")
    _consent_and_screen(first, study, age="18-39")
    assert first.post(reverse("panel_give_up", args=[study.token])).status_code == 302
    for pid in ("b", "c"):
        browser = client.__class__()
        _enter(browser, study, pid=pid)
        _consent_and_screen(browser, study, age="18-39" if pid == "b" else "40+")
    assert dict(PanelEntrant.objects.values_list("external_id", "status")) == {
        "a": "returned",
        "b": "working",
        "c": "working",
    }


def test_crossed_cells_are_quotas_of_their_own(client):
    researcher = make_researcher(username="cross")
    audience = public_age_audience(slug="cells")
    campaign = make_campaign(audiences={audience: 3}, items=3, owners=[researcher])
    study = services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=PanelStudy.Panel.GENERIC,
        name="Cells",
        places=10,
        quota_cells=[{"attributes": {"age_band": "18-39"}, "places": 1}],
        created_by=researcher,
    )
    outcomes = []
    for pid, age in (("a", "18-39"), ("b", "18-39"), ("c", "40+")):
        browser = client.__class__()
        url = f"{reverse('panel_entry', args=[study.token])}"
        assert browser.post(url, {"pid": pid}).status_code == 302
        _consent_and_screen(browser, study, age=age)
        outcomes.append(PanelEntrant.objects.get(external_id=pid).status)
    # 40+ matches no cell: screened out.
    assert outcomes == ["working", "overquota", "screened"]


def test_completions_csv_for_the_campaigns_researchers_only(client, study):
    _enter(client, study, pid="=HYPERLINK(1)")
    _consent_and_screen(client, study)
    _annotate_one(client, study.campaign)
    url = reverse("panel_completions_csv", args=[study.pk])
    client.logout()
    stranger = make_researcher(username="stranger")
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.get(reverse("panel_study_detail", args=[study.pk])).status_code == 404
    client.force_login(study.created_by)
    rows = list(csv.DictReader(io.StringIO(client.get(url).content.decode())))
    assert len(rows) == 1
    row = rows[0]
    # A formula-looking id is kept as text in spreadsheets.
    assert row["external_id"] == "'=HYPERLINK(1)"
    assert row["STUDY_ID"] == "s1" and row["SESSION_ID"] == "x1"
    assert row["status"] == "working" and row["judgements"] == "1"
    assert row["started_at"] and row["finished_at"] == ""
    detail = client.get(reverse("panel_study_detail", args=[study.pk]))
    assert detail.status_code == 200
    assert b"PROLIFIC_PID={{%PROLIFIC_PID%}}" in detail.content
    assert b"age_band 18-39" in detail.content


def test_the_api_creates_a_study_and_names_bad_fields(client, study):
    client.force_login(study.created_by)
    url = reverse("api-panel-studies")
    bad = client.post(
        url,
        {
            "campaign": study.campaign.slug,
            "audience": study.audience.slug,
            "panel": "prolific",
            "name": "x",
            "places": 5,
            "quota_cells": [{"attributes": {"age_band": "99"}, "places": 1}],
        },
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "quota_cells.0.attributes.age_band" in bad.content.decode()
    created = client.post(
        url,
        {
            "campaign": study.campaign.slug,
            "audience": study.audience.slug,
            "panel": "mturk",
            "name": "MTurk run",
            "places": 5,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "workerId=" in body["entry_url"]
    detail = client.get(reverse("api-panel-study", args=[body["id"]])).json()
    assert detail["quotas"][0] == {"label": "All places", "places": 5, "taken": 0, "left": 5}
    assert PanelStudy.objects.count() == 2


def test_external_ids_never_reach_a_release(
    client, study, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    for pid in ("PANELID-111", "PANELID-222"):
        browser = client.__class__()
        _enter(browser, study, pid=pid)
        _consent_and_screen(browser, study, age="18-39" if pid.endswith("1") else "40+")
        _annotate_one(browser, study.campaign)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(
            campaign=study.campaign, created_by=study.created_by, formats=["jsonl"]
        )
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    files = [p for p in settings.RELEASES_ROOT.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files)
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(name) for name in archive.namelist())
        assert b"PANELID" not in data, path
        assert b"panel-" not in data, path  # nor the participants' usernames
    # What a release says instead: these two came in through a panel.
    people = pq.read_table(
        settings.RELEASES_ROOT / job.release_path / study.audience.slug / "participants.parquet"
    )
    assert people.column("joined_via").to_pylist() == ["panel", "panel"]


def test_released_quotas_let_the_groups_that_came_fill_the_places(client, study):
    """A group that never arrives would keep its places empty for good; once the
    researcher releases the quotas, the others may take them."""
    study.places = 4
    study.save()
    for pid in ("a", "b", "c"):
        browser = client.__class__()
        _enter(browser, study, pid=pid)
        _consent_and_screen(browser, study, age="18-39")
    assert PanelEntrant.objects.get(external_id="c").status == "overquota"
    client.force_login(study.created_by)
    page = client.get(reverse("panel_study_detail", args=[study.pk]))
    assert b"Release the quotas now" in page.content
    assert client.post(reverse("panel_release_quotas", args=[study.pk])).status_code == 302
    for pid in ("d", "e", "f"):
        browser = client.__class__()
        _enter(browser, study, pid=pid)
        _consent_and_screen(browser, study, age="18-39")
    statuses = dict(PanelEntrant.objects.values_list("external_id", "status"))
    # Two places were left (18-39 held its 2 of 4); the third newcomer finds the study full.
    assert [statuses[p] for p in "def"] == ["working", "working", "overquota"]
    page = client.get(reverse("panel_study_detail", args=[study.pk]))
    assert b"Quotas released" in page.content
    assert b"age_band 18-39" in page.content


def test_only_the_campaigns_researchers_release_quotas(client, study):
    client.force_login(make_researcher(username="other"))
    assert client.post(reverse("panel_release_quotas", args=[study.pk])).status_code == 404
    study.refresh_from_db()
    assert study.quotas_released_at is None


def test_a_paused_campaign_admits_no_newcomer_but_resumes_who_came(client, study):
    _enter(client, study, pid="early")
    study.campaign.status = Campaign.Status.PAUSED
    study.campaign.save()
    late = client.__class__()
    refused = _enter_post_only(late, study, pid="late")
    assert refused.status_code == 403 and b"not open right now" in refused.content
    # Back through the same session's link (the id alone no longer resumes anyone).
    again = _enter_post_only(client.__class__(), study, pid="early", STUDY_ID="s1", SESSION_ID="x1")
    assert again.status_code == 302
    assert list(PanelEntrant.objects.values_list("external_id", flat=True)) == ["early"]


def _enter_post_only(client, study, pid, **extra):
    return client.post(reverse("panel_entry", args=[study.token]), {"PROLIFIC_PID": pid, **extra})


def test_the_study_list_filters_by_a_managed_campaign_and_refuses_others(client, study):
    client.force_login(study.created_by)
    page = client.get(reverse("panel_study_list"), {"campaign": study.campaign.slug})
    assert page.status_code == 200 and b"UK sample" in page.content
    assert client.get(reverse("panel_study_list"), {"campaign": "nope"}).status_code == 404
    client.force_login(make_researcher(username="elsewhere"))
    assert (
        client.get(reverse("panel_study_list"), {"campaign": study.campaign.slug}).status_code
        == 404
    )
    assert b"UK sample" not in client.get(reverse("panel_study_list")).content
