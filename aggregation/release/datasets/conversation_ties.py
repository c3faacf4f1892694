"""Tied pairs of conversation turns, apart from the DPO config: one row per pair of
replies a turn's judgement left equal (rated alike), the two in the order shown, with
the same history and columns as `conversation_preferences` but no chosen or rejected, so
nothing trains DPO on them by mistake."""

from __future__ import annotations

import pyarrow as pa

from aggregation.release.datasets import conversation_preferences
from aggregation.release.datasets.base import Dataset, Part

TIE_NAMES = ("completion_a", "completion_b", "source_a", "source_b")


def ties_table(part: Part) -> pa.Table | None:
    tied = [(turn, pair) for turn, pair in conversation_preferences.pair_rows(part) if pair.tie]
    return conversation_preferences.pairs_table(part, tied, TIE_NAMES)


DATASET = Dataset(
    name="conversation_ties",
    contents="tied pairs per conversation turn, kept out of the DPO config",
    columns=(
        "conversation_id",
        "turn",
        "prompt",
        "completion_a",
        "completion_b",
        "source_a",
        "source_b",
        "replies_shown",
        "pair_from",
        "continued",
        "edited",
        "rationale",
    ),
    build=ties_table,
    card_columns=lambda conversational: (
        "- Conversation ties: one row per pair of replies rated alike at a turn, `prompt` "
        "with `completion_a`/`completion_b` in the order shown (no chosen or rejected)."
    ),
)
