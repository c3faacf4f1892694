"""The demo's models in the loop: endpoints, a conversation campaign and an arena.

`make demo` runs ``manage.py demo`` (audiences, campaigns and simulated answers,
`collection/demo.py`) and then ``manage.py demo_models``, which calls `demo_models_load`.
With ``PLURALIGN_DEMO_MODEL_URL`` set (an OpenAI-compatible server, e.g. Ollama at
``http://127.0.0.1:11434/v1``, and ``PLURALIGN_DEMO_MODEL`` its model id) the demo's
three endpoints call that model, each with its own system prompt; otherwise they call
the stand-in (`endpoints/standin.py`) that `make run` starts on ``STANDIN_PORT``,
which answers with canned text, and the campaigns' instructions say so.

It lives in endpoints, which may import collection (not the reverse): collection's
demo cannot register endpoints.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from collection import services as collection_services
from collection.models import Audience, Campaign
from endpoints import services
from endpoints.conversations import services as conversation_services
from endpoints.models import ModelEndpoint

CONVERSATION_SLUG = "talk-it-through"
ARENA_SLUG = "model-arena"
STANDIN_KEY = "sk-demo-standin"  # the stand-in `make run` starts requires it; demo only
# Three ways to answer, so replies differ even from one model.
PERSONAS = {
    "Concise helper": "You answer in two or three short sentences.",
    "Careful explainer": "You answer step by step and say where you are unsure.",
    "Warm listener": "You acknowledge feelings first, then give practical advice.",
}
OPENINGS = [
    "How do I tell my flatmate they keep leaving the kitchen in a mess?",
    "My elderly father wants to keep driving. How do I raise it with him?",
    "I was offered a job that pays more but has a long commute. How should I decide?",
    "How can I get back into reading after years of not finishing a book?",
    "Our neighbour's tree blocks our light. What can we reasonably ask?",
    "I keep putting off a hard conversation with my manager. Where do I start?",
]
STANDIN_NOTE = (
    "Demo note: no real model is connected. The replies come from a local stand-in "
    "that answers with canned text, so they will not make sense. To chat with a real "
    "model, set PLURALIGN_DEMO_MODEL_URL (see the README)."
)


@dataclasses.dataclass(frozen=True)
class DemoModels:
    base_url: str
    model: str
    standin: bool
    campaigns: list[str]


def demo_model_target() -> tuple[str, str, bool]:
    """(base URL, model id, whether it is the stand-in)."""
    url = settings.PLURALIGN_DEMO_MODEL_URL
    if url:
        return url, settings.PLURALIGN_DEMO_MODEL, False
    return f"http://127.0.0.1:{settings.PLURALIGN_DEMO_STANDIN_PORT}/v1", "standin", True


def demo_models_load() -> DemoModels:
    """Register the demo's endpoints (or point them at the configured model) and create
    the conversation and arena campaigns once; safe to run again."""
    base_url, model, standin = demo_model_target()
    researcher = get_user_model().objects.get(username="researcher")
    with transaction.atomic():
        endpoints = [
            _endpoint(researcher, name, system_prompt, base_url, model, standin)
            for name, system_prompt in PERSONAS.items()
        ]
        ids = [endpoint.pk for endpoint in endpoints]
        note = STANDIN_NOTE if standin else ""
        everyone = Audience.objects.get(slug="everyone")
        public = Audience.objects.get(slug="uk-adults")
        _campaign(
            researcher,
            slug=CONVERSATION_SLUG,
            name="Talk it through: chat, and pick the better reply",
            instructions=(
                "Start from the question shown (edit it if you like) and chat for up to "
                "three turns. Each turn, two models reply: pick the one you would rather "
                "continue with, and edit it if you can make it better. Then rate the "
                "whole conversation."
            ),
            note=note,
            targets={everyone: 3, public: 3},
            rows=[{"external_id": f"talk-{n}", "prompt": text} for n, text in enumerate(OPENINGS)],
            settings={"endpoint_ids": ids, "replies_per_turn": 2, "turn_limit": 3},
        )
        _campaign(
            researcher,
            slug=ARENA_SLUG,
            name="Model arena: your prompt, two anonymous models",
            instructions=(
                "Write any prompt you like. Two anonymous models answer; pick the better "
                "reply. Each battle draws a pair of models so every pair meets about "
                "equally often."
            ),
            note=note,
            targets={everyone: 30, public: 30},
            rows=[
                {"external_id": f"battle-{n}", "prompt": "", "payload": {"opening": "free"}}
                for n in range(30)
            ],
            settings={
                "endpoint_ids": ids,
                "replies_per_turn": 2,
                "turn_limit": 1,
                "arena": True,
            },
        )
    return DemoModels(base_url, model, standin, [CONVERSATION_SLUG, ARENA_SLUG])


def _endpoint(researcher, name, system_prompt, base_url, model, standin) -> ModelEndpoint:
    fields = {
        "base_url": base_url,
        "model": model,
        "system_prompt": system_prompt,
        "temperature": 0.7,
        "max_tokens": 400,
        "timeout_seconds": 120.0 if not standin else 10.0,
        "max_concurrency": 4,
    }
    key = STANDIN_KEY if standin else settings.PLURALIGN_DEMO_MODEL_KEY
    endpoint = ModelEndpoint.objects.filter(owner=researcher, name=name).first()
    if endpoint is None:
        return services.endpoint_create(owner=researcher, name=name, api_key=key, **fields)
    # Run again with another model setting: the same endpoints call the new target.
    return services.endpoint_update(endpoint=endpoint, fields=fields, api_key=key)


def _campaign(researcher, *, slug, name, instructions, note, targets, rows, settings) -> None:
    text = f"{note}\n\n{instructions}" if note else instructions
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is not None:
        Campaign.objects.filter(pk=campaign.pk).update(instructions=text)
        return
    campaign = collection_services.campaign_create(
        slug=slug,
        name=name,
        item_kind=Campaign.ItemKind.CONVERSATION,  # the demo of conversations with models
        owners=[researcher],
        instructions=text,
        description=name,
        targets=targets,
    )
    collection_services.items_create(campaign=campaign, rows=rows)
    conversation_services.conversation_settings_save(campaign=campaign, user=researcher, **settings)
    collection_services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
