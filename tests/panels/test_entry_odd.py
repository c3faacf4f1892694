"""Panel entry links as an attacker writes them: odd, over-long, forged and replayed ids,
the same id in two studies, and a completions file a spreadsheet opens."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from panels import services
from panels.models import PanelEntrant, PanelStudy
from tests.factories import make_campaign, make_researcher, public_age_audience

pytestmark = pytest.mark.django_db


def _study(name="UK sample", panel=PanelStudy.Panel.PROLIFIC, audience=None, researcher=None):
    researcher = researcher or make_researcher()
    audience = audience or public_age_audience(screened=True)
    campaign = make_campaign(audiences={audience: 3}, items=4, owners=[researcher])
    return services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=panel,
        name=name,
        places=5,
        judgements_required=1,
        created_by=researcher,
    )


def _enter(client, study, **ids):
    return client.post(reverse("panel_entry", args=[study.token]), ids)


PROLIFIC = {"PROLIFIC_PID": "5f1a", "STUDY_ID": "s1", "SESSION_ID": "x1"}


@pytest.mark.parametrize("name", ["STUDY_ID", "SESSION_ID"])
@pytest.mark.parametrize("odd", ["a\x00b", "x" * 201], ids=["nul", "201 characters"])
def test_an_odd_secondary_id_is_refused_naming_it_and_enters_nobody(name, odd):
    study = _study()
    for method in ("get", "post"):
        link = reverse("panel_entry", args=[study.token])
        response = getattr(Client(raise_request_exception=False), method)(
            link, {**PROLIFIC, name: odd}
        )
        assert response.status_code == 400, (method, response.status_code)
        assert name.encode() in response.content
    assert not PanelEntrant.objects.exists()


def test_knowing_someones_prolific_id_does_not_sign_in_as_them():
    study = _study()
    person = Client()
    assert _enter(person, study, **PROLIFIC).status_code == 302
    entrant = PanelEntrant.objects.get()
    # The same person coming back through their own session's link resumes.
    again = Client()
    assert _enter(again, study, **PROLIFIC).status_code == 302
    assert again.session["_auth_user_id"] == str(entrant.participant.user_id)
    # Someone else with only the id (a forged link, another session) gets nothing.
    attacker = Client()
    forged = _enter(attacker, study, **{**PROLIFIC, "SESSION_ID": "attacker"})
    assert forged.status_code == 409
    assert b"SESSION_ID" in forged.content
    assert "_auth_user_id" not in attacker.session
    missing = _enter(attacker, study, PROLIFIC_PID="5f1a", STUDY_ID="s1")
    assert missing.status_code == 409
    assert "_auth_user_id" not in attacker.session
    assert PanelEntrant.objects.count() == 1


def test_an_mturk_worker_who_entered_from_the_preview_can_come_back_once_accepted():
    study = _study(panel=PanelStudy.Panel.MTURK)
    preview = {"workerId": "W1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "h"}
    assert _enter(Client(), study, **preview).status_code == 302
    accepted = {**preview, "assignmentId": "A1"}
    assert _enter(Client(), study, **accepted).status_code == 302
    assert PanelEntrant.objects.count() == 1


def test_the_same_id_in_two_studies_is_two_people_who_never_meet():
    researcher = make_researcher()
    audience = public_age_audience(screened=True)
    first = _study(audience=audience, researcher=researcher)
    second = _study(name="Second", audience=audience, researcher=researcher)
    one, two = Client(), Client()
    assert _enter(one, first, **PROLIFIC).status_code == 302
    assert _enter(two, second, **PROLIFIC).status_code == 302
    entrants = list(PanelEntrant.objects.order_by("pk"))
    assert [e.study_id for e in entrants] == [first.pk, second.pk]
    assert entrants[0].participant_id != entrants[1].participant_id
    # The first study's pages are not the second's person's.
    assert two.get(reverse("panel_consent", args=[first.token])).status_code == 404


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_looking_session_ids_are_text_in_the_completions_file(lead):
    study = _study()
    _enter(Client(), study, **{**PROLIFIC, "STUDY_ID": f"{lead}cmd", "SESSION_ID": f"{lead}1+1"})
    owner = Client()
    owner.force_login(study.created_by)
    response = owner.get(reverse("panel_completions_csv", args=[study.pk]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["STUDY_ID"] == f"'{lead}cmd"
    assert rows[0]["SESSION_ID"] == f"'{lead}1+1"
