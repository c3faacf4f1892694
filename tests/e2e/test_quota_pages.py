"""Quotas live on the campaign page in Chromium, at 1280 and 390 px: the table is there,
nothing scrolls sideways, and "Release quotas now" releases them and comes back."""

from __future__ import annotations

import pytest

from tests.factories import (
    PASSWORD,
    make_campaign,
    make_researcher,
    public_age_audience,
    ready_participant,
)
from tests.helpers import SCREENSHOTS, answer_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("width", [1280, 390])
def test_the_campaign_page_shows_quotas_and_releases_them(browser, live_server, width):
    owner = make_researcher(username=f"quotas{width}")
    audience = public_age_audience(slug="uk", name="UK adults")
    campaign = make_campaign(audiences={audience: 2}, items=4, owners=[owner], slug="uk-pairs")
    person = ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "40+"})
    assert answer_all(person, campaign, lambda item: {"choice": "a"}, limit=1) == 1
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next=/campaigns/{campaign.slug}/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Quotas, live").wait_for()
    table = page.get_by_role("table", name="Campaign slots: quotas against slots held")
    assert "Holding" in page.locator('[data-metric="quota_state"]').inner_text()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"campaign-quotas-{width}.png"))
    page.get_by_role("button", name="Release quotas now").click()
    page.get_by_text("released: any member may now take").wait_for()
    assert page.url.endswith(f"/campaigns/{campaign.slug}/")
    assert "Released" in page.locator('[data-metric="quota_state"]').inner_text()
    assert page.get_by_role("button", name="Release quotas now").count() == 0
