"""Adaptive overlap's pages in Chromium: the campaign page's "where the extra judgements
went" and the workbench form's adaptive fields, at desktop and phone widths."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from aggregation import tasks
from tests.collection.test_adaptive import BASE_K, adaptive_campaign, fill
from tests.e2e.conftest import browser  # noqa: F401 (the fixture, shared with tests/e2e)
from tests.factories import make_researcher
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "adaptive-pages-pw-1"
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_the_extra_judgements_are_shown_on_the_campaign_page_at_1280_and_390_px(
    browser,  # noqa: F811
    live_server,
):
    cache.clear()
    campaign, left, right = adaptive_campaign(items=4)
    owner = make_researcher(username="adaptive-owner")
    owner.set_password(PASSWORD)
    owner.save()
    campaign.owners.set([owner])
    disputed = set(campaign.items.order_by("id").values_list("id", flat=True)[:2])
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b" if item.pk in disputed else "a", people=BASE_K)
    tasks.adaptive_overlap_allocate()
    fill(campaign, left, lambda item: "a", people=2)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(f"{live_server.url}/login/?next=/campaigns/{campaign.slug}/")
        page.get_by_label("Username").fill("adaptive-owner")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        heading = page.get_by_role("heading", name="Where the extra judgements went")
        heading.wait_for()
        table = page.get_by_role(
            "table", name=f"Extra judgements by audience and rule in {campaign.name}"
        )
        row = table.locator('tr[data-audience="left"]')
        assert row.locator('[data-metric="items_extra"]').inner_text() == "2"
        assert row.locator('[data-metric="extra_judgements"]').inner_text() == "4"
        assert page.evaluate(NO_SIDEWAYS_SCROLL), width
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"adaptive-campaign-{width}.png"), full_page=True)

        page.goto(f"{live_server.url}/workbench/campaigns/{campaign.slug}/edit/")
        box = page.get_by_label("Maximum k per audience")
        assert box.input_value() == "7"
        assert page.get_by_label("Give more judgements where audiences disagree").is_checked()
        assert page.evaluate(NO_SIDEWAYS_SCROLL), width
        page.screenshot(path=str(SCREENSHOTS / f"adaptive-form-{width}.png"), full_page=True)
        context.close()
