"""A Prolific participant's whole visit in a real browser, at desktop and phone width:
the study link, consent, the screener pre-filled from the link, two judgements, and the
redirect back to the panel with the completion code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from panels import services
from panels.models import PanelEntrant, PanelStudy
from tests.factories import PASSWORD, make_campaign, make_researcher, public_age_audience
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_prolific_participant_enters_works_and_returns_with_the_code(browser, live_server, width):
    researcher = make_researcher(username=f"panel-owner-{width}")
    audience = public_age_audience(slug=f"uk-{width}", name="UK adults", screened=True)
    campaign = make_campaign(
        audiences={audience: 2}, items=4, owners=[researcher], name="Helpful answers"
    )
    study = services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=PanelStudy.Panel.PROLIFIC,
        name="Prolific UK",
        places=10,
        judgements_required=2,
        # Prolific's own URL is not reachable from here; a page of the test server is.
        completion_url=f"{live_server.url}/returned/?cc={{code}}",
        created_by=researcher,
    )
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    shots = Path(SCREENSHOTS)
    shots.mkdir(parents=True, exist_ok=True)
    link = reverse("panel_entry", args=[study.token])
    page.goto(
        f"{live_server.url}{link}?PROLIFIC_PID=6a7b8c&STUDY_ID=st1&SESSION_ID=se1&age_band=40%2B"
    )
    page.get_by_role("heading", name="Helpful answers").wait_for()
    page.screenshot(path=str(shots / f"panel-entry-{width}.png"), full_page=True)
    page.get_by_role("button", name="Begin").click()

    page.get_by_role("heading", name="What you agree to").wait_for()
    page.screenshot(path=str(shots / f"panel-consent-{width}.png"), full_page=True)
    page.get_by_label("I have read this and I agree.").check()
    page.get_by_role("button", name="I agree, continue").click()

    page.get_by_role("heading", name="A few questions about you").wait_for()
    # The link's age band is already chosen.
    assert page.get_by_label("Age band").input_value() == "40+"
    page.screenshot(path=str(shots / f"panel-screener-{width}.png"), full_page=True)
    page.get_by_role("button", name="Continue").click()

    for number in (2, 3):
        page.get_by_role("heading", name="Helpful answers").wait_for()
        page.keyboard.press("1")
        page.get_by_text(f"Item {number}").wait_for()
    page.screenshot(path=str(shots / f"panel-finish-{width}.png"), full_page=True)
    page.get_by_role("button", name="Finish and return to the panel").click()
    page.wait_for_url(re.compile(r"/returned/\?cc="))
    assert page.url.endswith(f"cc={study.completion_code}")
    entrant = PanelEntrant.objects.get(study=study)
    assert entrant.status == "completed" and entrant.external_id == "6a7b8c"
    assert entrant.participant.responses.count() == 2
    context.close()

    # The researcher sees the study's link, codes and quotas, live.
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(researcher.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{reverse('panel_study_detail', args=[study.pk])}")
    page.get_by_role("heading", name="Quotas, live").wait_for()
    row = page.get_by_role("row", name=re.compile("age_band 40\\+"))
    assert row.get_by_role("cell").nth(1).inner_text() == "1"  # taken
    page.screenshot(path=str(shots / f"panel-study-{width}.png"), full_page=True)
    context.close()
