"""Helpers the tests share that are not fixtures (fixtures stay in the conftest files).

Stored responses, scenario campaigns, the stand-in model's key and endpoint, and
skipping or failing a test whose service is missing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from collection import conversations as conversation_writes
from collection import imports, payloads, services
from collection import services as collection_services
from collection.models import Audience, Campaign, Item, Response
from endpoints import services as endpoint_services
from endpoints.conversations import services as conversation_services
from endpoints.models import ModelEndpoint
from endpoints.standin import StandinServer
from tests.factories import (
    AudienceFactory,
    CampaignFactory,
    make_campaign,
    public_age_audience,
    ready_participant,
)

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def need_service(reason: str) -> None:
    """Skip a test whose service is missing, or fail it where CI requires services."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


TEST_ENDPOINT_KEY = "mS1n3QvYkJ0lX0pQ3aK8m2b7cW9xZ4rT6yU1oE5iA2s="
STANDIN_KEY = "sk-standin-5e3f9c1b7a2d4e60"
ROLE = [{"name": "role", "label": "Role", "choices": ["nurse", "senior"]}]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-results" / "screenshots"


# Responses and campaigns -----------------------------------------------------------


def answer_all(participant, campaign, choose, *, limit: int | None = None) -> int:
    """Let a participant answer items until none is left (or ``limit``); returns how many."""
    done = 0
    while limit is None or done < limit:
        assignment = services.assignment_next(participant=participant, campaign=campaign)
        if isinstance(assignment, services.NoItem):
            break
        services.response_submit(
            participant=participant,
            assignment_id=assignment.pk,
            payload=choose(assignment.item),
            time_on_task_ms=1200,
            idempotency_key=uuid.uuid4(),
        )
        done += 1
    return done


def respond(person, campaign, audience, items, choose, *, days_ago: int = 0) -> None:
    """Stored responses to ``items``, validated as the engine validates them (quicker than
    the engine, which tests/collection covers; releases and pages only read the rows)."""
    moment = timezone.now() - timedelta(days=days_ago)
    Response.objects.bulk_create(
        Response(
            campaign=campaign,
            audience=audience,
            item=item,
            participant=person,
            payload=payloads.validate_response(
                kind=campaign.item_kind,
                payload=choose(item),
                item_payload=item.payload,
                preference_format=campaign.preference_format,
                rating_scale=campaign.rating_scale,
                rubric=campaign.rubric_names,
            ),
            time_on_task_ms=1500,
            idempotency_key=uuid.uuid4(),
            created_at=moment,
        )
        for item in items
    )


def respond_to_all(participant, campaign, audience, choose) -> None:
    """`respond` to every ordinary item of the campaign."""
    items = campaign.items.filter(is_attention_check=False).order_by("id")
    respond(participant, campaign, audience, items, choose)


def fail_attention_check(participant, campaign, audience) -> None:
    """A failed attention check, stored as the engine stores one."""
    item = Item.objects.create(
        campaign=campaign,
        prompt="Attention check: pick B.",
        payload={"candidates": [{"id": "a", "text": "no"}, {"id": "b", "text": "yes"}]},
        is_attention_check=True,
        expected={"choice": "b"},
    )
    Response.objects.create(
        campaign=campaign,
        audience=audience,
        item=item,
        participant=participant,
        payload={"choice": "a"},
        time_on_task_ms=900,
        attention_passed=False,
    )


def demonstration_campaign(owner, audience) -> Campaign:
    campaign = make_campaign(
        audiences={audience: 5},
        items=4,
        owners=[owner],
        slug="ward-demos",
        item_kind=Campaign.ItemKind.DEMONSTRATION,
        transience=Campaign.Transience.EPISODIC,
    )
    for n in range(5):
        person = ready_participant(audience=audience, campaign=campaign)
        answer_all(person, campaign, lambda item, n=n: {"text": f"Reply {n} to {item.pk}."})
    return campaign


def build_board_campaign(owner) -> Campaign:
    """Four audiences over 10 items:

    - uk-adults (public, age targets 50/50): 10 participants aged 18-39 and 2 aged 40+,
      so 40+ is under-covered;
    - everyone (mass): one keen participant answers all 10 items, ten others 2 each, so
      the keen one has a third of the responses and dominates;
    - ward (group of 3) and alex (dyad) answer everything through the engine (their
      slots fill), with equal shares: nobody dominates a small group or a dyad.
    """
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    public = public_age_audience(slug="uk-adults", name="UK adults")
    ward = AudienceFactory(
        slug="ward", name="Ward team", kind=Audience.Kind.GROUP, attribute_schema=ROLE
    )
    alex = AudienceFactory(slug="alex", name="Alex", kind=Audience.Kind.DYADIC)
    campaign = make_campaign(
        audiences={everyone: 12, public: 12, ward: 3, alex: 1},
        items=10,
        owners=[owner],
        slug="board-pairs",
        name="Board pairs",
    )
    items = list(campaign.items.order_by("id"))
    for n in range(12):
        person = ready_participant(
            audience=public,
            campaign=campaign,
            attributes={"age_band": "18-39" if n < 10 else "40+"},
        )
        respond(
            person,
            campaign,
            public,
            items,
            lambda item, n=n: {"choice": "a" if (n + item.pk) % 3 else "b"},
            days_ago=n % 4,
        )
    keen = ready_participant(audience=everyone, campaign=campaign)
    respond(keen, campaign, everyone, items, lambda item: {"choice": "a"}, days_ago=1)
    for n in range(10):
        person = ready_participant(audience=everyone, campaign=campaign)
        respond(person, campaign, everyone, items[n % 5 : n % 5 + 2], lambda item: {"choice": "b"})
    for n in range(3):
        person = ready_participant(
            audience=ward, campaign=campaign, attributes={"role": "nurse" if n else "senior"}
        )
        answer_all(person, campaign, lambda item, n=n: {"choice": "ab"[n % 2]})
    person = ready_participant(audience=alex, campaign=campaign)
    answer_all(person, campaign, lambda item: {"choice": "a"})
    campaign.test_keen = keen
    return campaign


# Model endpoints -------------------------------------------------------------------


def make_endpoint(owner, server: StandinServer, name: str, *, key: str = STANDIN_KEY, **fields):
    return endpoint_services.endpoint_create(
        owner=owner,
        name=name,
        base_url=server.base_url,
        model=fields.pop("model", name),
        api_key=key,
        **{"timeout_seconds": 5.0, **fields},
    )


def prompts_only_campaign(owner, *, items: int = 4, k: int = 2, **fields):
    """A preference campaign whose items came without candidates (imported prompts only)."""
    campaign = CampaignFactory(owners=[owner], **fields)
    audience = AudienceFactory(slug=f"everyone-{campaign.slug}")
    collection_services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
    lines = "\n".join(
        json.dumps({"external_id": f"p{n}", "prompt": f"How should I answer question {n}?"})
        for n in range(items)
    )
    imports.items_import(
        campaign=campaign,
        stream=io.BytesIO(lines.encode()),
        file_format="jsonl",
        prompts_only=True,
    )
    return campaign, audience


def celery_worker(
    log_path: Path, name: str, env: dict[str, str], args: tuple[str, ...] = ()
) -> subprocess.Popen:
    """A real Celery worker process (solo pool, its own session so a test can kill the
    whole group), logging to ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={name}@%h",
            "--loglevel=INFO",
            *args,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


# Conversations ---------------------------------------------------------------------


def conversation_campaign(
    owner,
    server: StandinServer,
    *,
    endpoints: int = 2,
    seeds: int = 2,
    k: int = 1,
    audience=None,
    settings: dict | None = None,
    seed_rows: list[dict] | None = None,
    **fields,
):
    """An open conversation campaign over ``seeds`` seed items (openings given), targeting
    ``audience`` (a new mass one by default) with ``k``, answered by ``endpoints``
    stand-in endpoints ("model-0", "model-1"..., the owner's own if made already);
    returns (campaign, audience, endpoints)."""
    campaign = CampaignFactory(owners=[owner], item_kind=Campaign.ItemKind.CONVERSATION, **fields)
    audience = audience or AudienceFactory(slug=f"everyone-{campaign.slug}")
    collection_services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
    rows = seed_rows or [
        {"external_id": f"s{n}", "prompt": f"How do I start conversation {n}?"}
        for n in range(seeds)
    ]
    collection_services.items_create(campaign=campaign, rows=rows)
    made = [
        ModelEndpoint.objects.filter(
            owner=owner, name=f"model-{n}", base_url=server.base_url
        ).first()
        or make_endpoint(owner, server, f"model-{n}")
        for n in range(endpoints)
    ]
    conversation_services.conversation_settings_save(
        campaign=campaign,
        user=owner,
        endpoint_ids=[endpoint.pk for endpoint in made],
        **{"replies_per_turn": min(endpoints, 4), **(settings or {})},
    )
    return campaign, audience, made


def events_of(stream) -> list[dict]:
    """Every event of a turn (`endpoints.conversations.services.turn_ask`), keepalives left out."""
    return [event for event in stream if event["event"] != "keepalive"]


def converse(participant, campaign, *, turns: int = 1, rating: int | None = 4, pick=None):
    """Run a conversation through the services: ``turns`` messages, each judged by
    ``pick(shown_ids)`` (default: the first shown), then closed with ``rating`` (None: left
    open). Returns the conversation."""
    conversation = conversation_services.conversation_begin(
        participant=participant, campaign=campaign
    )
    for n in range(turns):
        events = events_of(
            conversation_services.turn_ask(
                participant=participant, conversation=conversation, message=f"Message {n}"
            )
        )
        assert events[-1]["event"] == "done", events[-1]
        conversation.refresh_from_db()
        shown = conversation.pending["shown"]
        conversation_writes.turn_save(
            participant=participant,
            conversation_id=conversation.pk,
            token=conversation.pending["token"],
            judgement={"choice": (pick or (lambda ids: ids[0]))(shown)},
        )
        conversation.refresh_from_db()
    if rating is not None:
        conversation = conversation_writes.conversation_close(
            participant=participant, conversation_id=conversation.pk, rating=rating
        )
    return conversation


def error_fields(body: dict) -> set[str]:
    """Every field an API error body names (the one shape, `collection.apis.errors`)."""
    return {entry["field"] for entry in body.get("errors") or [body] if "field" in entry}
