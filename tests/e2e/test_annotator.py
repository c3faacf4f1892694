"""An annotator's whole journey in a real browser, and item text that tries to be HTML."""

from __future__ import annotations

import pytest

from collection import services
from collection.models import Assignment, Campaign, Membership, Response
from tests.factories import AGE_SCHEMA, PASSWORD, AudienceFactory, make_campaign, ready_participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<script>window.__xss=1</script><b>bold</b>"


def open_campaign(page, name: str) -> None:
    """From the home page, start the named campaign."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My campaigns").click()
    card = page.locator(".campaign-card", has=page.get_by_role("heading", name=name))
    card.get_by_role("link", name="Start").click()


def consent(page, screenshot=None) -> None:
    page.get_by_role("heading", name="What you agree to").wait_for()
    if screenshot:
        screenshot("consent")
    page.get_by_label("I have read this and I agree.").check()
    page.get_by_role("button", name="I agree, start").click()


def test_a_new_annotator_from_sign_up_to_withdrawal(page, live_server, screenshot):
    everyone = AudienceFactory(name="Everyone", slug="everyone", attribute_schema=AGE_SCHEMA)
    pairs = make_campaign(
        audiences={everyone: 2},
        items=2,
        name="Helpful pairs",
        instructions="Pick the response that helps more.\nIgnore small typos.",
        transience=Campaign.Transience.EPISODIC,
    )
    ranking = make_campaign(
        audiences={everyone: 2},
        items=1,
        name="Rank three",
        preference_format=Campaign.PreferenceFormat.RANKING,
    )
    demos = make_campaign(
        audiences={everyone: 2},
        items=1,
        name="Write it better",
        item_kind=Campaign.ItemKind.DEMONSTRATION,
        ask_confidence=True,
    )
    qa = make_campaign(
        audiences={everyone: 2}, items=1, name="Quick facts", item_kind=Campaign.ItemKind.QA
    )

    # Sign up, join the mass audience and fill in its profile.
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Email").fill("grace@example.org")
    page.get_by_label("Password (required)", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("button", name="Join Everyone").click()
    page.get_by_role("heading", name="Your profile for Everyone").wait_for()
    page.get_by_label("Age band").select_option("40+")
    screenshot("profile")
    page.get_by_role("button", name="Save and continue").click()
    membership = Membership.objects.get(participant__user__username="grace")
    assert membership.attributes == {"age_band": "40+"}
    participant = membership.participant
    screenshot("home")

    # A pairwise item, answered with the keyboard; then skip the next one.
    open_campaign(page, "Helpful pairs")
    consent(page, screenshot)
    page.get_by_role("heading", name="Helpful pairs").wait_for()
    screenshot("annotate-choice")
    first = Assignment.objects.get(participant=participant, campaign=pairs)
    first_shown = page.locator(".candidate .text").first.inner_text()
    page.keyboard.press("1")
    page.get_by_text("Item 2").wait_for()
    stored = Response.objects.get(assignment=first)
    chosen = {c["id"]: c["text"] for c in first.item.candidates}[stored.payload["choice"]]
    assert chosen == first_shown
    assert 0 < stored.time_on_task_ms < 60_000
    page.get_by_role("button", name="Skip this item").click()
    page.get_by_role("heading", name="All done").wait_for()
    screenshot("done")
    assert Assignment.objects.filter(
        participant=participant, campaign=pairs, status=Assignment.Status.SKIPPED
    ).exists()

    # A ranking, reordered with the keyboard: the last response moves to the top.
    open_campaign(page, "Rank three")
    consent(page)
    items = page.locator("#rank-list > li")
    items.first.wait_for()
    before = [items.nth(i).locator(".text").inner_text() for i in range(3)]
    screenshot("annotate-ranking")
    items.nth(2).focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("u")
    assert items.nth(0).locator(".text").inner_text() == before[2]
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="All done").wait_for()
    item = Assignment.objects.get(participant=participant, campaign=ranking).item
    by_text = {c["text"]: c["id"] for c in item.candidates}
    assert Response.objects.get(participant=participant, campaign=ranking).payload == {
        "ranking": [by_text[before[2]], by_text[before[0]], by_text[before[1]]]
    }

    # A demonstration: edit the draft, say how sure, submit with Ctrl+Enter.
    open_campaign(page, "Write it better")
    consent(page)
    text = page.get_by_label("Your response")
    assert text.input_value() == "Draft 0"
    text.fill("A better reply.\nOn two lines.")
    page.get_by_label("4", exact=True).check()
    screenshot("annotate-demonstration")
    text.press("Control+Enter")
    page.get_by_role("heading", name="All done").wait_for()
    assert Response.objects.get(participant=participant, campaign=demos).payload == {
        "text": "A better reply.\nOn two lines.",
        "confidence": 4,
    }

    # A question: an answer and its sources, one per line.
    open_campaign(page, "Quick facts")
    consent(page)
    page.get_by_label("Your answer").fill("Paris.")
    page.get_by_label("Sources (optional, one per line)").fill("atlas\nhttps://example.org/fr")
    screenshot("annotate-qa")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("heading", name="All done").wait_for()
    assert Response.objects.get(participant=participant, campaign=qa).payload == {
        "answer": "Paris.",
        "sources": ["atlas", "https://example.org/fr"],
    }

    # Look back, then withdraw from the whole platform.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My submissions").click()
    assert page.locator("table.submissions tbody tr").count() == 4
    screenshot("submissions")
    page.get_by_role("link", name="Withdraw from the whole platform").click()
    page.get_by_text("your 4 answers").wait_for()
    screenshot("withdraw")
    page.get_by_role("button", name="Withdraw from the platform").click()
    page.get_by_text("You have withdrawn from the platform").wait_for()
    screenshot("submissions-withdrawn")
    assert not Response.objects.filter(participant=participant, withdrawn_at=None).exists()
    page.goto(f"{live_server.url}/campaigns/{pairs.slug}/annotate/")
    assert page.get_by_text("You have withdrawn").is_visible()


def test_item_text_that_looks_like_html_is_shown_as_text(page, live_server, screenshot):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=0, name="Escaping")
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": f"Which is safer? {XSS}",
                "payload": {"candidates": [XSS, "A plain answer."]},
            }
        ],
    )
    participant = ready_participant(audience=audience, campaign=campaign)
    page.goto(f"{live_server.url}/login/?next=/campaigns/{campaign.slug}/annotate/")
    page.get_by_label("Username").fill(participant.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    candidate = page.locator(".candidate .text", has_text="window.__xss")
    candidate.wait_for()
    assert candidate.inner_text() == XSS
    assert candidate.is_visible()
    assert page.locator(".candidate b, .prompt b, script:not([src])").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    screenshot("annotate-escaped")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("annotate-phone")
