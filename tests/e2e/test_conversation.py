"""A three-turn conversation in real Chromium, its replies streamed from the stand-in model.

One endpoint answers at once and one a second later, so the page shows the first reply
finished while the second is still being written; the participant judges each turn
(one of them edited), and rates the conversation at the turn limit. At 1280 and 390 px.
"""

from __future__ import annotations

import pytest

from collection.models import Conversation
from endpoints.standin import StandinServer
from tests.e2e.test_workbench import NO_SIDEWAYS_SCROLL, WIDE_ELEMENTS, log_in
from tests.factories import make_researcher, ready_participant
from tests.helpers import SCREENSHOTS, STANDIN_KEY, conversation_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKUP = "<script>window.__xss=1</script><b>bold</b> plain words"


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE_ELEMENTS)


def send(page, text: str | None) -> None:
    box = page.get_by_label("Your next message").or_(page.get_by_label("Your first message"))
    if text is not None:
        box.fill(text)
    page.get_by_role("button", name="Send").click()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_three_turn_streamed_conversation(browser, live_server, width):
    with StandinServer(api_key=STANDIN_KEY) as standin:
        researcher = make_researcher()
        campaign, audience, endpoints = conversation_campaign(
            researcher,
            standin,
            endpoints=2,
            settings={"turn_limit": 3},
            name="Everyday advice",
            instructions="Chat as you would with an assistant. Say which reply helps more.",
        )
        standin.set_behaviour("model-1", latency_ms=1200)
        person = ready_participant(audience=audience, campaign=campaign)

        context = browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        log_in(page, live_server, person.user.username)
        page.goto(f"{live_server.url}/campaigns/{campaign.slug}/annotate/")
        page.get_by_role("button", name="Start a conversation").click()
        conversation = Conversation.objects.get(participant=person)
        opening = page.get_by_label("Your first message")
        assert opening.input_value() == conversation.item.prompt
        shoot(page, f"conversation-start-{width}")

        # Turn 1: the given opening. One reply is done while the other is still written.
        send(page, None)
        page.locator("#live-replies .reply-state", has_text="Done.").first.wait_for()
        assert page.locator("#live-replies .reply.streaming").count() == 1
        assert page.locator("#live-replies .reply:not(.streaming) .reply-text").inner_text().strip()
        shoot(page, f"conversation-streaming-{width}")
        page.get_by_role("heading", name="Which reply do you prefer?").wait_for()
        shoot(page, f"conversation-judge-{width}")
        page.get_by_label("I prefer reply 2").check()
        page.get_by_role("button", name="Save and go on").click()

        # Turn 2: edit the preferred reply; the conversation goes on with the edit.
        page.get_by_text("Saved. Write your next message.").wait_for()
        send(page, "Thanks. What if it rains?")
        page.get_by_role("heading", name="Which reply do you prefer?").wait_for()
        first_reply = page.locator("#judge-form .reply-text").first.inner_text()
        page.get_by_label("I prefer reply 1").check()
        page.get_by_text("Improve the reply you prefer (optional)").click()
        edit = page.get_by_label("Your version of it: the conversation goes on with your version")
        assert edit.input_value() == first_reply
        edit.fill("Take an umbrella, and keep the plan.")
        page.get_by_label("Why? (optional)").fill("It answers the question.")
        page.get_by_role("button", name="Save and go on").click()
        page.locator(".turn-assistant", has_text="Take an umbrella, and keep the plan.").wait_for()

        # Turn 3: a model's markup stays text; then the turn limit asks for a rating.
        standin.set_behaviour("model-0", text=MARKUP)
        send(page, "One more thing.")
        page.get_by_role("heading", name="Which reply do you prefer?").wait_for()
        assert page.locator("#judge-form", has_text=MARKUP).count() == 1
        assert page.evaluate("() => window.__xss") is None
        page.get_by_label("I prefer reply 1").check()
        page.get_by_role("button", name="Save and go on").click()
        page.get_by_role("heading", name="That was the last turn: rate the conversation").wait_for()
        shoot(page, f"conversation-closing-{width}")
        page.locator(".closing-form .scale-option", has_text="5").click()
        page.get_by_role("button", name="Finish the conversation").click()
        page.get_by_text("Thank you: the conversation is saved.").wait_for()

        conversation.refresh_from_db()
        turns = list(conversation.turns.order_by("index"))
        assert conversation.status == Conversation.Status.CLOSED
        assert conversation.closing_rating == 5 and len(turns) == 3
        assert turns[0].message == conversation.item.prompt
        assert turns[1].edited_text == "Take an umbrella, and keep the plan."
        assert turns[1].rationale == "It answers the question."
        assert turns[2].history[-1] == {
            "role": "assistant",
            "content": "Take an umbrella, and keep the plan.",
        }
        assert all(request.get("stream") for request in standin.requests)

        # Their own conversation, read back without endpoint names.
        page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
        page.get_by_role("heading", name="Turn 3").wait_for()
        body = page.content()
        assert not any(endpoint.name in body for endpoint in endpoints)
        assert STANDIN_KEY not in body
        shoot(page, f"conversation-detail-{width}")
        page.goto(f"{live_server.url}/conversations/")
        page.get_by_role("link", name="Everyday advice").wait_for()
        shoot(page, f"conversation-mine-{width}")
        context.close()

        # The researcher's page: settings, the list, and who wrote which reply.
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        log_in(page, live_server, researcher.username)
        page.goto(f"{live_server.url}/campaigns/{campaign.slug}/conversations/")
        page.get_by_role("heading", name="Settings").wait_for()
        assert page.get_by_label("Turn limit").input_value() == "3"
        shoot(page, f"conversation-researcher-{width}")
        page.locator(".conversation-table a").first.click()
        page.get_by_role("heading", name="Turn 3").wait_for()
        assert "model-1" in page.content() and STANDIN_KEY not in page.content()
        shoot(page, f"conversation-researcher-detail-{width}")
        context.close()
