"""The annotator's small things in a real browser: the keyboard answers a whole pairs form
(confidence included), keyboard hints stay off phones, times show in the viewer's zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from collection.models import Response
from tests.factories import PASSWORD, AudienceFactory, make_campaign, ready_participant
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/work/wt/shots/papercuts")
MOUSE_SHOTS = SCREENSHOTS


def shoot(page, name: str) -> None:
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def annotator_page(browser, live_server, participant, campaign, **context):
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/login/?next=/campaigns/{campaign.slug}/annotate/")
    page.get_by_label("Username").fill(participant.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".candidate").first.wait_for()
    return page


def test_two_keys_answer_a_pair_when_the_campaign_asks_for_confidence(browser, live_server):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2, ask_confidence=True)
    participant = ready_participant(audience=audience, campaign=campaign)
    page = annotator_page(
        browser, live_server, participant, campaign, viewport={"width": 1280, "height": 900}
    )
    hint = page.locator(".lease").inner_text()
    assert "1 or 2 picks a response, 0 is a tie; then 1 to 5 says how confident you are" in hint

    page.keyboard.press("2")
    status = page.locator("#key-status")
    assert "B is better. Now press 1 to 5" in status.inner_text()
    assert page.get_by_role("button", name="B is better").get_attribute("aria-pressed") == "true"
    shoot(page, "annotate-confidence-keys-1280")
    page.keyboard.press("4")
    page.get_by_text("Item 2").wait_for()
    first = Response.objects.get(participant=participant)
    assert first.payload["confidence"] == 4
    assert first.payload["choice"] in {c["id"] for c in first.item.candidates}

    # Escape takes the choice back; then a tie, very sure.
    page.keyboard.press("1")
    page.keyboard.press("Escape")
    assert page.get_by_role("button", name="A is better").get_attribute("aria-pressed") == "false"
    page.keyboard.press("0")
    page.keyboard.press("5")
    page.get_by_role("heading", name="All done").wait_for()
    last = Response.objects.exclude(pk=first.pk).get(participant=participant)
    assert last.payload["choice"] == "tie" and last.payload["confidence"] == 5


def test_keyboard_hints_are_not_shown_on_a_phone_and_times_are_the_viewers(browser, live_server):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1)
    participant = ready_participant(audience=audience, campaign=campaign)
    phone = annotator_page(
        browser,
        live_server,
        participant,
        campaign,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        timezone_id="Asia/Tokyo",
    )
    assert not phone.get_by_text("Keys:").is_visible()
    assert not phone.locator(".choice-buttons kbd").first.is_visible()
    assert phone.get_by_role("button", name="A is better").is_visible()
    # The lease time, in Tokyo's time zone, not UTC.
    lease = phone.locator(".lease time")
    assert lease.inner_text().endswith("GMT+9"), lease.inner_text()
    assert lease.get_attribute("title").endswith("UTC")
    shoot(phone, "annotate-phone-no-keys-390")


def test_sign_up_marks_every_required_field_and_a_new_token_has_a_copy_button(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/signup/")
    email = page.get_by_label("Email (required)")
    assert email.get_attribute("required") is not None
    for label in ("Username (required)", "Password (required)", "Password confirmation"):
        assert page.get_by_label(label, exact=label != "Password confirmation").count() == 1
    shoot(page, "signup-390")

    page.get_by_label("Username (required)").fill("tokenuser")
    email.fill("tokenuser@example.org")
    page.get_by_label("Password (required)", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.goto(f"{live_server.url}/account/tokens/")
    page.get_by_label("Name, so you can tell your tokens apart").fill("notebook")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Your new key").input_value()
    assert len(key) > 20
    page.get_by_role("button", name="Copy key").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key
    shoot(page, "tokens-390")
    context.close()


@pytest.mark.parametrize(
    "device",
    [
        {"viewport": {"width": 1280, "height": 900}},
        {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
    ],
    ids=["1280-mouse", "390-touch"],
)
def test_a_choice_clicked_before_a_confidence_waits_for_one_and_then_sends_both(
    browser, live_server, device
):
    # Clicking "B is better" with confidence asked and none given once answered 400,
    # "Say how confident you are."; now the choice waits, and says so.
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=2, ask_confidence=True)
    participant = ready_participant(audience=audience, campaign=campaign)
    page = annotator_page(browser, live_server, participant, campaign, **device)
    page.set_default_timeout(30_000)
    width = device["viewport"]["width"]
    press = "tap" if device.get("has_touch") else "click"
    b = page.get_by_role("button", name="B is better").get_attribute("value")
    getattr(page.get_by_role("button", name="B is better"), press)()
    status = page.locator("#choice-status")
    status.wait_for()
    assert "B is better. Now choose how confident you are" in status.inner_text()
    assert status.is_visible()
    assert page.locator("fieldset.scale.awaiting").is_visible()
    assert page.get_by_role("button", name="B is better").get_attribute("aria-pressed") == "true"
    assert not Response.objects.filter(participant=participant).exists()
    assert page.locator(".field-errors").count() == 0
    MOUSE_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(MOUSE_SHOTS / f"annotate-confidence-mouse-{width}.png"), full_page=True
    )
    getattr(page.locator("label.scale-option", has_text="4"), press)()
    page.get_by_text("Item 2").wait_for()
    answer = Response.objects.get(participant=participant)
    assert answer.payload["confidence"] == 4
    assert answer.payload["choice"] == b
    # A confidence first, then the choice: sent at once, as before.
    getattr(page.locator("label.scale-option", has_text="2"), press)()
    getattr(page.get_by_role("button", name="Tie"), press)()
    page.get_by_role("heading", name="All done").wait_for()
    last = Response.objects.exclude(pk=answer.pk).get(participant=participant)
    assert last.payload == {**last.payload, "choice": "tie", "confidence": 2}
