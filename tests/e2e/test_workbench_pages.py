"""Every workbench page at 1280 and 390 px: it opens, nothing scrolls the page sideways,
and a screenshot is kept for review."""

from __future__ import annotations

from pathlib import Path

import pytest

from collection import services
from collection.models import Campaign
from tests.factories import (
    PASSWORD,
    AudienceFactory,
    make_campaign,
    make_researcher,
    ready_participant,
)
from tests.helpers import SCREENSHOTS, respond

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
WIDE_ELEMENTS = """() => Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
REVIEW = Path("/work/wt/shots/papercuts")


@pytest.mark.parametrize("width", [1280, 390])
def test_every_workbench_page_fits_the_screen(browser, live_server, width):
    owner = make_researcher(username=f"pages{width}")
    crowd = AudienceFactory(slug="crowd", name="Crowd", created_by=owner)
    pairs = make_campaign(audiences={crowd: 2}, items=3, owners=[owner], slug="pairs")
    demos = make_campaign(
        audiences={crowd: 1},
        items=2,
        owners=[owner],
        slug="demos",
        item_kind=Campaign.ItemKind.DEMONSTRATION,
    )
    person = ready_participant(audience=crowd, campaign=pairs)
    respond(person, pairs, crowd, list(pairs.items.all()), lambda item: {"choice": "a"})
    services.consent_give(participant=person, campaign=demos)
    respond(person, demos, crowd, list(demos.items.all()), lambda item: {"text": "My reply."})

    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your campaigns").wait_for()

    item = pairs.items.order_by("id").first()
    urls = {
        "campaigns": "/campaigns/",
        "progress": "/campaigns/pairs/",
        "audiences": "/workbench/audiences/",
        "audience": "/workbench/audiences/crowd/",
        "settings": "/workbench/campaigns/pairs/edit/",
        "duplicate": "/workbench/campaigns/pairs/duplicate/",
        "import": "/workbench/campaigns/pairs/import/",
        "items": "/workbench/campaigns/pairs/items/",
        "item": f"/workbench/campaigns/pairs/items/{item.pk}/",
        "flags": "/workbench/campaigns/pairs/flags/",
        "reviews": "/workbench/campaigns/demos/reviews/",
        "releases": "/campaigns/pairs/releases/",
    }
    for name, url in urls.items():
        answer = page.goto(f"{live_server.url}{url}")
        assert answer.status == 200, (name, answer.status)
        _shoot(page, f"page-{name}-{width}")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), (name, page.evaluate(WIDE_ELEMENTS))

    # A participant's judgements under their pseudonym, reached from an item.
    page.goto(f"{live_server.url}{urls['item']}")
    page.locator("a[href*='/people/']").first.click()
    page.get_by_role("table", name="Judgements").wait_for()
    assert person.user.username not in page.content()
    _shoot(page, f"page-participant-{width}")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)

    # A release and its card.
    page.goto(f"{live_server.url}{urls['releases']}")
    page.get_by_role("button", name="Build release").click()
    page.get_by_text("Release v1 is published.").wait_for()
    page.get_by_role("link", name="Read the dataset card").click()
    page.get_by_role("article", name="Dataset card").wait_for()
    _shoot(page, f"page-card-{width}")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)
    context.close()


def _shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if REVIEW.parent.is_dir():
        REVIEW.mkdir(exist_ok=True)
        page.screenshot(path=str(REVIEW / f"{name}.png"), full_page=True)
