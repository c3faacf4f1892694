"""A researcher's whole path through the workbench in a real browser, at desktop width
and at 390 px: audience, campaign, imports, opening, a participant's flag, its
resolution, a release."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from collection.models import Campaign, Item
from collection.permissions import RESEARCHERS_GROUP
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import PASSWORD, UserFactory, preference_row, ready_participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


WIDE_ELEMENTS = """() => Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"""


def shoot(page, name: str, *, check_width: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if check_width:
        assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_researcher_sets_up_runs_and_releases_a_study_in_the_browser(
    browser, live_server, tmp_path, width
):
    import json

    user = UserFactory(username=f"researcher{width}")
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    tag = f"{width}"

    log_in(page, live_server, user.username)
    page.get_by_role("heading", name="Your campaigns").wait_for()

    # An audience with census shares pasted as a table.
    page.goto(f"{live_server.url}/workbench/audiences/new/")
    page.get_by_label("Slug").fill("uk-adults")
    page.get_by_label("Name").fill("UK adults")
    page.get_by_label("Kind").select_option("public")
    page.get_by_label("Attribute schema").fill("age_band: 18-39, 40+")
    page.get_by_label("Target shares (public audiences)").fill(
        "attribute\tvalue\tshare\nage_band\t18-39\t41%\nage_band\t40+\t50%"
    )
    assert "must be 1" in page.locator("#share-preview").inner_text()
    page.get_by_label("Target shares (public audiences)").fill(
        "attribute\tvalue\tshare\nage_band\t18-39\t41%\nage_band\t40+\t59%"
    )
    assert "add up to 1 ✓" in page.locator("#share-preview").inner_text()
    shoot(page, f"workbench-audience-form-{tag}")
    page.get_by_role("button", name="Create audience").click()
    page.get_by_role("heading", name="Invitation links").wait_for()
    page.get_by_role("button", name="Create link").click()
    page.get_by_role("button", name="Revoke").wait_for()
    shoot(page, f"workbench-audience-detail-{tag}")

    # A campaign targeting it with k = 2, instructions previewed.
    page.goto(f"{live_server.url}/workbench/campaigns/new/")
    page.get_by_label("Slug").fill("tone")
    page.get_by_label("Name", exact=True).fill("Tone")
    page.get_by_label("Consent text").fill("I agree.")
    page.get_by_label("Instructions").fill("Pick the **kinder** reply.")
    page.get_by_label("UK adults", exact=True).check()
    page.get_by_label("k for UK adults").fill("2")
    page.get_by_role("button", name="Preview instructions").click()
    assert page.locator(".markdown-preview strong").inner_text() == "kinder"
    shoot(page, f"workbench-campaign-form-{tag}")
    page.get_by_role("button", name="Create draft campaign").click()
    page.get_by_role("heading", name="Import items · Tone").wait_for()

    # A file with one bad line, then a good one.
    good = [json.dumps(preference_row(n)) for n in range(3)]
    bad = json.dumps({"external_id": "bad", "prompt": "Hm?", "payload": {"candidates": []}})
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_text("\n".join([good[0], bad, good[1]]) + "\n")
    page.get_by_label("File", exact=True).set_input_files(str(bad_file))
    page.locator("#file-preview pre").wait_for()
    page.get_by_role("button", name="Check and import").click()
    report = page.locator("#report").inner_text()
    assert "Nothing was imported" in report and "Line 2: payload.candidates" in report
    shoot(page, f"workbench-import-report-{tag}")
    good_file = tmp_path / "good.jsonl"
    good_file.write_text("\n".join(good) + "\n")
    page.get_by_label("File", exact=True).set_input_files(str(good_file))
    page.get_by_role("button", name="Check and import").click()
    assert "Imported 3 items." in page.locator("#report").inner_text()

    # Open it from the campaign page.
    page.get_by_role("link", name="Progress").first.click()
    page.get_by_role("button", name="Open", exact=True).click()
    page.get_by_text("The campaign is open.").wait_for()
    campaign = Campaign.objects.get(slug="tone")
    assert campaign.status == "open"

    # A participant annotates one item and flags the next.
    audience = campaign.audiences.get()
    participant = ready_participant(
        audience=audience, campaign=campaign, attributes={"age_band": "40+"}
    )
    annotator = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    log_in(annotator, live_server, participant.user.username)
    annotator.goto(f"{live_server.url}/campaigns/tone/annotate/")
    annotator.get_by_role("button", name="A is better").click()
    annotator.get_by_text("Flag a problem with this item").click()
    annotator.get_by_label("What is wrong with this item?").fill("Reply B is rude")
    annotator.get_by_role("button", name="Flag and skip").click()
    annotator.context.close()

    # The flag reaches the researcher, who corrects the text.
    page.goto(f"{live_server.url}/workbench/campaigns/tone/flags/")
    assert "Reply B is rude" in page.locator("main").inner_text()
    shoot(page, f"workbench-flags-{tag}")
    page.get_by_text("Edit the text (a new version)").click()
    page.get_by_label("Corrected prompt").fill("A corrected question?")
    page.get_by_role("button", name="Save as version 2").click()
    page.get_by_text("No open flags.").wait_for()
    assert Item.objects.filter(campaign=campaign, version=2).count() == 1

    page.goto(f"{live_server.url}/workbench/campaigns/tone/items/")
    shoot(page, f"workbench-items-{tag}")
    page.locator("table a").first.click()
    page.get_by_role("heading", name="Votes per audience").wait_for()
    assert participant.user.username not in page.content()
    shoot(page, f"workbench-item-detail-{tag}")

    # A release, and its card.
    page.goto(f"{live_server.url}/campaigns/tone/")
    page.get_by_role("button", name="Build a new release").click()
    page.get_by_role("heading", name="Published releases").wait_for()
    assert "Release v1 is published." in page.locator(".messages").inner_text()
    shoot(page, f"workbench-releases-{tag}")
    page.get_by_role("link", name="Read the dataset card").click()
    card = page.get_by_role("article", name="Dataset card")
    card.get_by_role("heading", name="Tone: release v1").wait_for()
    text = card.inner_text()
    assert "items, 1 judgement from 1 participant." in text
    assert "Left out by the researchers: 0 items they excluded from releases." in text
    # Its plots load from the release's files.
    assert card.locator("img").count() >= 1
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.release-card img'))"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    shoot(page, f"workbench-release-card-{tag}")
    context.close()
