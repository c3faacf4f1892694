"""The main navigation of a staff researcher (every link there is) stays one row at
1280 px: their own annotator pages sit in an "Annotating" menu that opens without
script; at 390 px nothing scrolls sideways."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_researcher
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
ROW_TOPS = """() => Array.from(document.querySelectorAll(
    'nav[aria-label=Main] > .brand, nav[aria-label=Main] > .nav-links > li, '
    + 'nav[aria-label=Main] > .nav-account'))
    .map(e => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2))"""


@pytest.mark.parametrize("width", [1280, 390])
def test_a_staff_researchers_navigation_fits_and_its_menu_opens(browser, live_server, width):
    staff = make_researcher(username="a-rather-long-staff-name", is_staff=True)
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next=/campaigns/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your campaigns").wait_for()
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Campaigns I run", "Audiences", "Panels", "Models", "Dashboard", "Admin"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    assert not nav.get_by_role("link", name="My submissions").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"nav-staff-{width}.png"))
    if width == 1280:
        tops = page.evaluate(ROW_TOPS)
        assert max(tops) - min(tops) <= 8, tops  # one row
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    nav.get_by_text("Annotating").click()
    nav.get_by_role("link", name="My submissions").wait_for(state="visible")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=str(SCREENSHOTS / f"nav-staff-{width}-menu.png"))
    nav.get_by_role("link", name="My submissions").click()
    page.wait_for_url("**/submissions/")
    assert "current" in (nav.locator(".nav-menu summary").get_attribute("class") or "")
