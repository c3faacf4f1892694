"""Conversations in releases: judged turns as preference pairs, SFT chats, closing ratings
and whole trees."""

from __future__ import annotations

from aggregation.metrics.document import conversation_kind_metrics
from aggregation.release.datasets import (
    conversation_preferences,
    conversation_ratings,
    conversation_sft,
    conversation_ties,
    conversation_trees,
    participants,
)
from aggregation.release.kinds.base import ReleaseKind, register


class Conversation(ReleaseKind):
    name = "conversation"
    datasets = (
        conversation_preferences.DATASET,
        conversation_ties.DATASET,
        conversation_sft.DATASET,
        conversation_ratings.DATASET,
        conversation_trees.DATASET,
        participants.DATASET,
    )
    card_tags = ("conversational", "preference", "rlhf", "dpo", "sft")
    judgement_columns = {"rating": "r.payload->>'rating'"}  # the closing rating
    reads_turns = True
    metrics = staticmethod(conversation_kind_metrics)


register(Conversation())
