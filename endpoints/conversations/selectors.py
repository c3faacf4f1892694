"""Reads for conversations: the history the models see, the open one, arena counts."""

from __future__ import annotations

from collections import Counter

from django.db.models import QuerySet
from django.utils import timezone

from collection.models import Assignment, Campaign, Item, Participant, Slot
from collection.models.conversations import Conversation, ConversationSettings, Turn
from collection.permissions import conversations_visible_to
from endpoints.conversations.pairing import Pair, pair_key
from endpoints.models import ModelEndpoint


def seed_messages(item: Item) -> list[dict]:
    """What a seed gives the models before the first message: its system prompt, persona
    and situation as one system message, then its context's earlier messages."""
    context = item.context or {}
    system = []
    if item.payload.get("system_prompt"):
        system.append(item.payload["system_prompt"])
    if context.get("persona"):
        system.append(f"Persona: {context['persona']}")
    if context.get("situation"):
        system.append(f"Situation: {context['situation']}")
    messages = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return [*messages, *context.get("messages", [])]


def turns_so_far(*, conversation: Conversation) -> list[Turn]:
    """The judged turns, in order, with what the history needs (one query)."""
    return list(
        conversation.turns.order_by("index").only(
            "index", "message", "replies", "chosen", "edited_text", "conversation_id"
        )
    )


def history_from(*, conversation: Conversation, turns: list[Turn]) -> list[dict]:
    """The messages before the next one: the seed's, then every judged turn's message
    and the reply (or edit) that carried it on."""
    history = seed_messages(conversation.item)
    for turn in turns:
        history.append({"role": "user", "content": turn.message})
        history.append({"role": "assistant", "content": turn.continuation})
    return history


def conversation_open_for(*, participant: Participant, campaign: Campaign) -> Conversation | None:
    """The participant's conversation in progress in this campaign: open, not withdrawn,
    its lease not given up (it may have run out; continuing renews it if it can). One
    whose lease ran out and whose seed went to someone else cannot go on: None."""
    conversation = (
        Conversation.objects.select_related("item", "campaign", "assignment")
        .filter(
            participant=participant,
            campaign=campaign,
            status=Conversation.Status.OPEN,
            withdrawn_at__isnull=True,
            assignment__status=Assignment.Status.LEASED,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if conversation is None:
        return None
    lease = conversation.assignment
    lost = (
        lease.expires_at <= timezone.now()
        and lease.slot_id is not None
        and not Slot.objects.filter(pk=lease.slot_id, holder=lease, filled=False).exists()
    )
    return None if lost else conversation


def conversation_lost_by(*, participant: Participant, campaign: Campaign) -> Conversation | None:
    """The participant's latest conversation in this campaign, when it ended because its
    lease ran out and its place went to someone else (to tell them so)."""
    latest = (
        Conversation.objects.filter(
            participant=participant, campaign=campaign, deleted_at__isnull=True
        )
        .order_by("-created_at", "-id")
        .only("id", "status", "ended_by")
        .first()
    )
    if latest is None or latest.ended_by != Conversation.EndedBy.EXPIRED:
        return None
    return latest


def conversations_closed_count(*, participant: Participant, campaign: Campaign) -> int:
    return Conversation.objects.filter(
        participant=participant,
        campaign=campaign,
        status=Conversation.Status.CLOSED,
        withdrawn_at__isnull=True,
    ).count()


def settings_for(*, campaign: Campaign) -> ConversationSettings | None:
    return ConversationSettings.objects.filter(campaign=campaign).first()


def arena_battles(*, campaign_id: int) -> Counter[Pair]:
    """Battles so far per pair of endpoints in an arena campaign (deleted ones too: the
    draw balances what was asked)."""
    battles: Counter[Pair] = Counter()
    for ids in Conversation.objects.filter(campaign_id=campaign_id, arena=True).values_list(
        "endpoint_ids", flat=True
    ):
        if isinstance(ids, list) and len(ids) == 2:
            battles[pair_key(int(ids[0]), int(ids[1]))] += 1
    return battles


def endpoints_by_id(ids) -> dict[int, ModelEndpoint]:
    return {endpoint.pk: endpoint for endpoint in ModelEndpoint.objects.filter(pk__in=list(ids))}


def conversations_of_person(*, user) -> QuerySet[Conversation]:
    """The user's own conversations, newest first (deleted ones are nobody's)."""
    return (
        conversations_visible_to(user)
        .filter(participant__user=user)
        .select_related("campaign", "item", "audience")
    )


def conversation_visible(*, user, conversation_id: int) -> Conversation | None:
    return (
        conversations_visible_to(user)
        .select_related("campaign", "item", "audience", "participant")
        .filter(pk=conversation_id)
        .first()
    )


def conversations_of_campaign(*, user, campaign: Campaign) -> QuerySet[Conversation]:
    return (
        conversations_visible_to(user)
        .filter(campaign=campaign)
        .select_related("audience", "item")
        .order_by("-created_at", "-id")
    )


def turns_of(*, conversation: Conversation) -> list[Turn]:
    return list(conversation.turns.order_by("index"))
