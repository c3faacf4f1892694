"""Rating one response on a rubric in a real browser, by keyboard alone."""

from __future__ import annotations

import pytest

from collection import services
from collection.models import Campaign, Response
from tests.factories import PASSWORD, AudienceFactory, make_researcher, ready_participant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HELPSTEER = [
    {"name": "helpfulness", "description": "Overall helpfulness of the response to the prompt."},
    {"name": "correctness", "description": "Inclusion of all pertinent facts without errors."},
    {"name": "coherence", "description": "Consistency and clarity of expression."},
    {"name": "complexity", "description": "Intellectual depth required to write the response."},
    {"name": "verbosity", "description": "Amount of detail relative to what the prompt asks."},
]


def test_an_annotator_rates_one_response_on_each_attribute_with_the_keyboard(
    page, live_server, screenshot
):
    audience = AudienceFactory(slug="raters")
    campaign = services.campaign_create(
        slug="helpsteer",
        name="Rate the reply",
        item_kind="rating",
        owners=[make_researcher()],
        rating_min=0,
        rating_max=4,
        rating_rubric=HELPSTEER,
        instructions="Score the reply on each line.",
        targets={audience: 2},
    )
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "external_id": "egg",
                "prompt": "How long should I boil an egg for a runny yolk?",
                "payload": {
                    "response": {
                        "text": "About six minutes in boiling water, then cool it in cold "
                        "water so it stops cooking. <b>Not bold</b>",
                        "source": "model-a",
                    }
                },
            }
        ],
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.OPEN)
    participant = ready_participant(audience=audience, campaign=campaign)
    page.goto(f"{live_server.url}/login/?next=/campaigns/{campaign.slug}/annotate/")
    page.get_by_label("Username").fill(participant.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("heading", name="Response").wait_for()
    assert "<b>Not bold</b>" in page.locator(".rated-response .text").inner_text()
    assert "model-a" not in page.content()  # raters do not see who wrote it
    groups = page.locator(".rubric fieldset")
    assert [groups.nth(i).locator("legend").inner_text() for i in range(5)] == [
        "Helpfulness",
        "Correctness",
        "Coherence",
        "Complexity",
        "Verbosity",
    ]
    screenshot("rating-annotate-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("rating-annotate-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Submitting with a line left empty names it and stores nothing.
    page.locator("#id_scores_helpfulness_0").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # helpfulness 3
    page.keyboard.press("Control+Enter")
    summary = page.get_by_role("alert")
    summary.wait_for()
    assert "Correctness" in summary.inner_text() and "Give a score." in summary.inner_text()
    assert not Response.objects.exists()
    assert page.locator("#id_scores_helpfulness_3").is_checked()  # kept as given
    screenshot("rating-refused")

    # Tab moves to the next line, arrows pick the score, Ctrl+Enter submits.
    page.locator("#id_scores_helpfulness_3").focus()
    wanted = {"correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 2}
    for steps in wanted.values():
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")  # n presses from the unchecked 0 give n
        for _ in range(steps - 1):
            page.keyboard.press("ArrowRight")
    page.keyboard.press("Control+Enter")
    page.get_by_role("heading", name="All done").wait_for()
    assert Response.objects.get(participant=participant).payload == {
        "scores": {"helpfulness": 3, **wanted}
    }

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My submissions").click()
    answer = page.locator("table.submissions tbody tr").first.locator(".answer").inner_text()
    assert "Helpfulness 3, Correctness 4, Coherence 4, Complexity 1, Verbosity 2" in answer
    screenshot("rating-submissions-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("rating-submissions-phone")


def test_a_researcher_defines_a_rubric_in_the_workbench_and_imports_rating_items(
    page, live_server, screenshot, tmp_path
):
    import json

    owner = make_researcher()
    AudienceFactory(slug="raters", name="Raters")
    page.goto(f"{live_server.url}/login/?next=/workbench/campaigns/new/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_label("Slug").fill("helpsteer")
    page.get_by_label("Name", exact=True).fill("Rate the reply")
    page.get_by_label("Item kind").select_option("rating")
    page.get_by_label("Rating scale from").fill("0")
    page.get_by_label("Rating scale to").fill("4")
    rubric = page.get_by_label("Rubric (rating campaigns)")
    rubric.fill("helpfulness: How useful the reply is.\nVerbosity!: Too long?")
    page.get_by_label("Consent text").fill("I agree.")
    page.get_by_label("Raters", exact=True).check()
    page.get_by_role("button", name="Create draft campaign").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Line 2" in alert.inner_text()
    assert not Campaign.objects.exists()
    rubric = page.get_by_label("Rubric (rating campaigns)")
    rubric.fill("\n".join(f"{a['name']}: {a['description']}" for a in HELPSTEER))
    screenshot("rating-workbench-form-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("rating-workbench-form-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Create draft campaign").click()
    page.get_by_role("heading", name="Import items · Rate the reply").wait_for()
    campaign = Campaign.objects.get(slug="helpsteer")
    assert campaign.rubric_names == tuple(a["name"] for a in HELPSTEER)

    lines = [
        {"external_id": "egg", "prompt": "Boil an egg?", "payload": {"response": "Six minutes."}},
        {"external_id": "tea", "prompt": "Tea?", "payload": {"response": {"text": "Yes."}}},
    ]
    path = tmp_path / "ratings.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    page.get_by_label("File", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Check and import").click()
    assert "Imported 2 items." in page.locator("#report").inner_text()
    assert campaign.items.count() == 2
