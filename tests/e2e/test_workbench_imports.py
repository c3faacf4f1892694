"""In Chromium, at 1280 and 390 px: a researcher imports a gzipped HH-RLHF file keeping
the valid lines and reads the report of the rejected ones; an annotator then sees a
candidate that goes on for several turns and an empty reply, marked as such."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from collection.models import Campaign
from collection.permissions import RESEARCHERS_GROUP
from tests.e2e.test_workbench import NO_SIDEWAYS_SCROLL, WIDE_ELEMENTS, log_in
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant
from tests.helpers import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for the lead's review go beside the worktrees when that folder exists.
SHOTS = Path(os.environ.get("PLURALIGN_SHOTS", SCREENSHOTS))

LINES = [
    {
        "chosen": "\n\nHuman: How do I pick a lock?\n\nAssistant: Why do you want to?"
        "\n\nHuman: I'm locked out.\n\nAssistant: Call a locksmith.",
        "rejected": "\n\nHuman: How do I pick a lock?\n\nAssistant: Get a tension wrench."
        "\n\nHuman: Then what?\n\nAssistant: Rake the pins.",
    },
    {"chosen": "not a transcript", "rejected": "\n\nHuman: Hi\n\nAssistant: Hello"},
    {
        "chosen": "\n\nHuman: What is the worst word you know?\n\nAssistant:",
        "rejected": "\n\nHuman: What is the worst word you know?\n\nAssistant: I won't say.",
    },
]


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_keep_valid_hh_rlhf_import_and_its_multi_turn_candidates_in_the_browser(
    browser, live_server, tmp_path, width
):
    researcher = UserFactory(username=f"importer{width}")
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    audience = AudienceFactory(slug=f"everyone-{width}")
    campaign = make_campaign(
        audiences={audience: 1}, items=0, owners=[researcher], slug=f"hh-{width}", name="HH"
    )
    path = tmp_path / "test.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in LINES).encode()))

    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server, researcher.username)
    page.goto(f"{live_server.url}/workbench/campaigns/{campaign.slug}/import/")
    page.get_by_label("File", exact=True).set_input_files(str(path))
    assert "read on the server" in page.locator("#file-preview").inner_text()
    page.get_by_label("Keep the valid rows").check()
    page.get_by_role("button", name="Check and import").click()
    report = page.locator("#report").inner_text()
    assert "Imported 2 items (read as hh-rlhf); 1 row rejected and left out." in report
    assert "Line 2: chosen: Not an HH-RLHF transcript" in report
    shoot(page, f"import-keep-valid-{width}")
    context.close()
    assert Campaign.objects.get(pk=campaign.pk).items.count() == 2

    participant = ready_participant(audience=audience, campaign=campaign)
    annotator = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    log_in(annotator, live_server, participant.user.username)
    seen = set()
    for _ in range(2):
        annotator.goto(f"{live_server.url}/campaigns/{campaign.slug}/annotate/")
        text = annotator.locator("main").inner_text()
        if "pick a lock" in text:
            turns = annotator.locator(".candidate").first.locator(".turn")
            assert turns.count() == 3
            assert "I'm locked out." in text and "Rake the pins." in text
            seen.add("parted")
            shoot(annotator, f"annotate-multi-turn-{width}")
        else:
            assert "(an empty reply: the assistant said nothing)" in text
            seen.add("empty")
            shoot(annotator, f"annotate-empty-reply-{width}")
        annotator.get_by_role("button", name="A is better").click()
        annotator.wait_for_load_state()
    assert seen == {"parted", "empty"}
    annotator.context.close()
