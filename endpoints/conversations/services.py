"""A conversation campaign's settings, starting conversations, and asking for a turn.

`turn_ask` is a generator of events for the page (`views.conversation_ask` streams
them as server-sent events, or reads them all for the plain form): it checks that
the conversation may take a turn, draws the endpoints, shuffles the order the
replies are shown in, takes the campaign's places for calls in flight, runs the calls
(`runtime.run_calls`), counts their tokens against the campaign's budget, and at the
end hands every reply to `collection.conversations.conversation_set_pending` in one
write. The turn itself is saved when the participant judges it
(`collection.conversations.turn_save`).

Events are dicts: ``{"event": "start", "replies": [1, 2, ...]}`` (the positions
shown), ``{"event": "delta", "position": n, "text": ...}``, ``{"event": "reply",
"position": n}`` (finished), ``{"event": "failed", "position": n, "message": ...}``,
``{"event": "done", "arrived": n, "can_judge": bool, "message": ...}`` and
``{"event": "error", "message": ...}`` when the turn cannot be asked. None of them
names an endpoint.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from django.db import transaction
from django.utils import timezone

from collection import conversations as conversation_writes
from collection import services as collection_services
from collection.models import Campaign, Participant
from collection.models.conversations import (
    MAX_MESSAGE_CHARS,
    MAX_REPLIES,
    MAX_TURN_LIMIT,
    MIN_REPLIES,
    Conversation,
    ConversationSettings,
)
from collection.payloads import PayloadError, text_field
from collection.services import Conflict, NotFound, ServiceError
from endpoints.conversations import pairing, runtime, selectors
from endpoints.models import ModelEndpoint
from endpoints.selectors import endpoints_usable_by
from endpoints.services import endpoint_target

_rng = random.SystemRandom()


# Settings ----------------------------------------------------------------------------


def _whole(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError("Must be a whole number.", field=field)
    if not low <= value <= high:
        raise ServiceError(f"From {low} to {high}.", field=field)
    return value


def conversation_settings_save(
    *,
    campaign: Campaign,
    user,
    endpoint_ids: list[int],
    replies_per_turn: int = 2,
    turn_limit: int = 5,
    arena: bool = False,
    max_calls_in_flight: int = 8,
    token_budget: int | None = None,
) -> ConversationSettings:
    """Create or change a conversation campaign's settings.

    Endpoints must be ones ``user`` may use (their own), or already on the campaign (a
    co-owner's). Raising the budget above what is spent clears the budget's pause
    message; reopening the campaign is the researcher's step.
    """
    # This package is the conversation kind's own feature, so it names that kind.
    if campaign.item_kind != Campaign.ItemKind.CONVERSATION:
        raise ServiceError("Only conversation campaigns have these settings.", field="campaign")
    current = selectors.settings_for(campaign=campaign)
    if not isinstance(endpoint_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in endpoint_ids
    ):
        raise ServiceError("A list of endpoint ids.", field="endpoint_ids")
    allowed = set(endpoints_usable_by(user).values_list("pk", flat=True))
    allowed |= set(current.endpoint_ids if current else [])
    unknown = [i for i in endpoint_ids if i not in allowed]
    if unknown:
        raise ServiceError(f"You have no endpoint {unknown[0]}.", field="endpoint_ids")
    ids = sorted(set(endpoint_ids))
    if len(ids) < 2:
        raise ServiceError("Choose at least two endpoints.", field="endpoint_ids")
    replies_per_turn = _whole(replies_per_turn, "replies_per_turn", MIN_REPLIES, MAX_REPLIES)
    if arena and replies_per_turn != 2:
        raise ServiceError("Arena battles have two replies per turn.", field="replies_per_turn")
    if replies_per_turn > len(ids):
        raise ServiceError(
            f"Only {len(ids)} endpoints are chosen; ask at most that many per turn.",
            field="replies_per_turn",
        )
    turn_limit = _whole(turn_limit, "turn_limit", 1, MAX_TURN_LIMIT)
    max_calls_in_flight = _whole(max_calls_in_flight, "max_calls_in_flight", 1, 256)
    if max_calls_in_flight < replies_per_turn:
        raise ServiceError(
            "Allow at least as many calls in flight as replies per turn.",
            field="max_calls_in_flight",
        )
    if token_budget is not None:
        token_budget = _whole(token_budget, "token_budget", 1, 10**15)
    with transaction.atomic():
        setup = ConversationSettings.objects.select_for_update().filter(
            campaign=campaign
        ).first() or ConversationSettings(campaign=campaign)
        setup.endpoint_ids = ids
        setup.replies_per_turn = replies_per_turn
        setup.turn_limit = turn_limit
        setup.arena = bool(arena)
        setup.max_calls_in_flight = max_calls_in_flight
        setup.token_budget = token_budget
        if not setup.budget_spent:
            setup.paused_reason = ""
        setup.save()
    return setup


# Starting ----------------------------------------------------------------------------


def conversation_begin(
    *, participant: Participant, campaign: Campaign
) -> Conversation | collection_services.NoItem:
    """The participant's open conversation, or a new one on the next seed; an arena
    battle draws its two endpoints when it starts."""
    setup = selectors.settings_for(campaign=campaign)
    if setup is None:
        return collection_services.NoItem(
            "This campaign's models are not set up yet.", "not_set_up"
        )
    started = conversation_writes.conversation_start(participant=participant, campaign=campaign)
    if isinstance(started, Conversation) and started.arena and not started.endpoint_ids:
        pair = pairing.arena_pair(
            setup.endpoint_ids, selectors.arena_battles(campaign_id=campaign.pk), _rng
        )
        conversation_writes.conversation_draw_endpoints(
            conversation=started, endpoint_ids=list(pair)
        )
        started.endpoint_ids = list(pair)
    return started


# A turn ------------------------------------------------------------------------------


def _tokens(usage: dict | None, messages: list[dict], text: str) -> int:
    """The call's tokens as the server reports them; without a report, about four
    characters a token (OpenAI's rule of thumb) over the prompt and the reply."""
    if usage and isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    chars = sum(len(str(m.get("content", ""))) for m in messages) + len(text)
    return math.ceil(chars / 4)


def _call_messages(endpoint: ModelEndpoint, history: list[dict], message: str) -> list[dict]:
    messages = [dict(m) for m in history]
    if endpoint.system_prompt:
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{endpoint.system_prompt}\n\n{messages[0]['content']}"
        else:
            messages.insert(0, {"role": "system", "content": endpoint.system_prompt})
    return [*messages, {"role": "user", "content": message}]


def _reply_record(reply_id: str, endpoint: ModelEndpoint) -> dict:
    return {
        "id": reply_id,
        "endpoint": endpoint.pk,
        "source": endpoint.name,
        "model": endpoint.model,
        "params": endpoint.default_params(),
        "text": "",
        "truncated": False,
        "finish_reason": "",
        "latency_ms": None,
        "first_token_ms": None,
        "usage": None,
        "error": "",
    }


def _refusal(message: str) -> Iterator[dict]:
    yield {"event": "error", "message": message}


def turn_ask(
    *,
    participant: Participant,
    conversation: Conversation | int,
    campaign: Campaign | None = None,
    message: str = "",
    retry: bool = False,
) -> Iterator[dict]:
    """Ask the models for this turn's replies (``retry``: again, the ones that failed);
    yields events as they happen. Refusals come as one ``error`` event and change
    nothing; a conversation that is not the participant's (in ``campaign``, when given)
    raises NotFound.

    The statements a turn costs are counted by `tests/endpoints/test_turn_queries.py`:
    the conversation is read once with its campaign, seed and settings, its turns once,
    the endpoints once, the places in flight are taken and given back in one statement
    each, and the tokens and the replies are written once each at the end."""
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    try:
        conversation = conversation_writes.conversation_keep(
            participant=participant, conversation_id=conversation_id, campaign=campaign
        )
    except NotFound:
        raise
    except ServiceError as error:
        return _refusal(error.message)
    campaign = conversation.campaign
    setup = conversation_writes.conversation_settings(conversation)
    if setup is None:
        return _refusal("This campaign's models are not set up yet.")
    if setup.budget_spent:
        conversation_writes.campaign_pause_for_budget(campaign=campaign)
        return _refusal(selectors.settings_for(campaign=campaign).paused_reason)
    if campaign.status != Campaign.Status.OPEN:
        return _refusal(setup.paused_reason or f"This campaign is {campaign.status}.")
    turns = selectors.turns_so_far(conversation=conversation)
    if len(turns) >= setup.turn_limit:
        return _refusal("This conversation has reached its turn limit: please rate it.")
    pending = conversation.pending
    if retry:
        if not pending or not any(r["error"] for r in pending["replies"]):
            return _refusal("There is nothing to ask again.")
        return _run(conversation, setup, pending, retry=True)
    if pending:
        return _refusal("Judge the replies you have first.")
    try:
        message = text_field(
            (message or "").replace("\r\n", "\n"), "message", limit=MAX_MESSAGE_CHARS
        )
    except PayloadError as error:
        return _refusal(error.message if message else "Write a message first.")
    if conversation.arena and len(conversation.endpoint_ids) == 2:
        chosen = list(conversation.endpoint_ids)
    else:
        chosen = pairing.turn_endpoints(setup.endpoint_ids, setup.replies_per_turn, _rng)
    endpoints = selectors.endpoints_by_id(chosen)
    chosen = [pk for pk in chosen if pk in endpoints]
    if len(chosen) < 2:
        return _refusal("This campaign's models are not available; please tell its researchers.")
    replies = [_reply_record("abcd"[n], endpoints[pk]) for n, pk in enumerate(chosen[:MAX_REPLIES])]
    draft = {
        "message": message,
        "history": selectors.history_from(conversation=conversation, turns=turns),
        "index": len(turns),
        "replies": replies,
        "order": pairing.shown_order([r["id"] for r in replies], _rng),
        "asked_at": timezone.now().isoformat(),
    }
    return _run(conversation, setup, draft, retry=False, endpoints=endpoints)


def _run(
    conversation: Conversation,
    setup: ConversationSettings,
    draft: dict,
    *,
    retry: bool,
    endpoints: dict[int, ModelEndpoint] | None = None,
):
    replies = [dict(reply) for reply in draft["replies"]]
    ask = [reply for reply in replies if reply["error"] or not retry]
    order = draft["order"]
    position = {reply_id: n for n, reply_id in enumerate(order, start=1)}
    if endpoints is None:
        endpoints = selectors.endpoints_by_id(reply["endpoint"] for reply in ask)
    calls, prompts = [], {}
    for reply in ask:
        endpoint = endpoints.get(reply["endpoint"])
        if endpoint is None:
            reply.update(error="The endpoint was removed.", text="")
            continue
        messages = _call_messages(endpoint, draft["history"], draft["message"])
        prompts[reply["id"]] = messages
        reply.update(text="", error="", truncated=False, usage=None)
        calls.append(
            runtime.Call(
                reply_id=reply["id"],
                target=endpoint_target(endpoint=endpoint),
                messages=messages,
                params=endpoint.default_params(),
            )
        )
    by_id = {reply["id"]: reply for reply in replies}
    yield {"event": "start", "replies": sorted(position[r["id"]] for r in ask), "retry": retry}
    for reply in ask:
        if reply["id"] not in prompts:  # its endpoint was removed
            yield {
                "event": "failed",
                "position": position[reply["id"]],
                "message": "The model is no longer available.",
            }
    try:
        gate = runtime.calls_take(
            campaign_id=setup.campaign_id, count=len(calls), limit=setup.max_calls_in_flight
        )
    except runtime.CallsBusy as busy:
        yield {"event": "error", "message": f"{busy} Please try again in a moment."}
        return
    finished = False
    tokens = 0
    try:
        for event in runtime.run_calls(calls):
            if event is None:
                yield {"event": "keepalive"}
                continue
            reply = by_id[event.reply_id]
            where = position[event.reply_id]
            if isinstance(event, runtime.Delta):
                yield {"event": "delta", "position": where, "text": event.text}
            elif isinstance(event, runtime.Finished):
                done = event.completion
                reply.update(
                    text=done.text,
                    truncated=event.truncated,
                    finish_reason=done.finish_reason[:40],
                    latency_ms=done.latency_ms,
                    first_token_ms=done.first_token_ms,
                    usage=done.usage,
                )
                tokens += _tokens(done.usage, prompts[event.reply_id], done.text)
                yield {"event": "reply", "position": where}
            else:
                reply.update(text="", error=event.error.message[:500], latency_ms=event.latency_ms)
                yield {
                    "event": "failed",
                    "position": where,
                    "message": runtime.failure_sentence(event.error.message),
                }
        finished = True
    finally:
        gate.release()
        # Every finished reply's tokens count, even when the page went away mid-turn:
        # one UPDATE for the turn, whatever happened after the replies came.
        spent = tokens > 0 and conversation_writes.settings_record_usage(
            campaign_id=setup.campaign_id, tokens=tokens
        )
        if spent and conversation.campaign.status == Campaign.Status.OPEN:
            conversation_writes.campaign_pause_for_budget(campaign=conversation.campaign)
    if not finished:
        return
    arrived = [reply_id for reply_id in order if not by_id[reply_id]["error"]]
    pending = {**draft, "replies": replies, "shown": arrived}
    pending.pop("token", None)
    try:
        conversation_writes.conversation_set_pending(
            participant=conversation.participant,
            conversation_id=conversation.pk,
            pending=pending,
        )
    except ServiceError as error:
        yield {"event": "error", "message": error.message}
        return
    failed = len(order) - len(arrived)
    yield {
        "event": "done",
        "arrived": len(arrived),
        "can_judge": len(arrived) >= 2,
        "message": (
            ""
            if not failed
            else f"{failed} of {len(order)} replies did not arrive. "
            + (
                "You can judge the ones that did, or ask again."
                if len(arrived) >= 2
                else "Ask again, or write a different message."
            )
        ),
    }


def turn_discard(*, participant: Participant, conversation: Conversation) -> None:
    """Drop replies that cannot be judged (fewer than two arrived), to write a different
    message; replies that can be judged are kept."""
    pending = conversation.pending
    if not pending:
        raise Conflict("There are no replies to drop.", field="conversation")
    if len(pending.get("shown", [])) >= 2:
        raise Conflict("Judge these replies: at least two arrived.", field="conversation")
    conversation_writes.conversation_set_pending(
        participant=participant, conversation_id=conversation.pk, pending=None
    )
