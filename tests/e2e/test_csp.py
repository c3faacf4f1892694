"""The Content-Security-Policy in a real browser: the annotator page (with its keyboard
shortcuts), the dashboard, a campaign page and Swagger UI run without one violation."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from collection.demo import DEMO_PASSWORD, demo_load
from collection.models import Campaign, Response
from tests.factories import PASSWORD, AudienceFactory, make_campaign, ready_participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium reports each blocked script, style or handler on the console, and the page
# fires a securitypolicyviolation event; collect both across navigations.
RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " " + event.blockedURI);
});
"""


def watch(page) -> list[str]:
    problems: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and ("Content Security Policy" in message.text or "CSP violation" in message.text)
            and problems.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def log_in(page, url: str, username: str, password: str, next_url: str) -> None:
    page.goto(f"{url}/login/?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_the_annotator_page_and_its_shortcuts_run_under_the_csp(page, live_server):
    everyone = AudienceFactory(name="Everyone", slug="everyone")
    campaign = make_campaign(audiences={everyone: 2}, items=2, name="Helpful pairs")
    demos = make_campaign(
        audiences={everyone: 2},
        items=1,
        name="Write it better",
        item_kind=Campaign.ItemKind.DEMONSTRATION,
    )
    participant = ready_participant(audience=everyone, campaign=campaign)
    from collection import services

    services.consent_give(participant=participant, campaign=demos)
    problems = watch(page)
    header = page.request.get(f"{live_server.url}/login/").headers["content-security-policy"]
    assert "script-src 'self'" in header

    log_in(page, live_server.url, participant.user.username, PASSWORD, "/")
    page.goto(f"{live_server.url}/campaigns/{campaign.slug}/annotate/")
    page.get_by_role("heading", name="Helpful pairs").wait_for()
    page.keyboard.press("1")  # the choice shortcut submits
    page.get_by_text("Item 2").wait_for()
    assert Response.objects.filter(participant=participant, campaign=campaign).count() == 1

    page.goto(f"{live_server.url}/campaigns/{demos.slug}/annotate/")
    text = page.get_by_role("textbox").first
    text.fill("A better reply.")
    text.press("Control+Enter")  # the submit shortcut of text items
    page.get_by_role("heading", name="All done").wait_for()
    assert Response.objects.filter(participant=participant, campaign=demos).count() == 1
    assert problems == []


def test_the_dashboard_campaign_page_and_api_docs_run_under_the_csp(
    page, live_server, settings, tmp_path
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    cache.clear()
    demo_load()
    problems = watch(page)

    log_in(page, live_server.url, "admin", DEMO_PASSWORD, "/dashboard/")
    page.get_by_role("heading", name="Coverage dashboard", level=1).wait_for()
    page.evaluate("document.querySelectorAll('img').forEach(image => image.loading = 'eager')")
    page.wait_for_function(
        "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    # The dashboard's styles now come from a file: the boards are laid out by it.
    assert page.eval_on_selector(".board", "board => getComputedStyle(board).marginBottom") != "0px"

    page.goto(f"{live_server.url}/campaigns/everyday-advice-pairs/")
    page.get_by_role("button", name="Build a new release").wait_for()

    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "pluralign API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock").first.wait_for()
    assert problems == []
