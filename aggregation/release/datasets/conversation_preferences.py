"""Conversational preference pairs, one row per pair a judged turn implies (TRL's DPO /
reward-model format, conversational form): ``prompt`` is the history the models saw
with the participant's message last, ``chosen`` and ``rejected`` one assistant message
each. Every turn of a conversation gives its rows, each with exactly the history up to
that turn. While the chunk is at hand it counts decided pairs by endpoint for the
Bradley–Terry strengths of the endpoints per audience (and Kendall's τ between
audiences), as releases of preference items do for candidate sources."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from aggregation.release.datasets import openai
from aggregation.release.datasets import turns as conversation_turns
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def pair_rows(part: Part):
    for turn in conversation_turns.turn_records(part):
        for pair in conversation_turns.turn_pairs(turn):
            yield turn, pair


def pairs_table(part: Part, rows: list, names: tuple[str, str, str, str]) -> pa.Table | None:
    """The turn pairs ``rows`` (from `pair_rows`) as rows, both replies and their endpoints
    under ``names`` (reply, reply, source, source: chosen/rejected here, completion_a/_b
    in the order shown for the ties)."""
    if not rows:
        return None
    reply_a, reply_b, source_a, source_b = names
    columns = conversation_turns.row_columns(
        part, [turn.item_id for turn, _ in rows], [turn.participant_id for turn, _ in rows]
    )
    columns["turn"] = pa.array([turn.index for turn, _ in rows], pa.int32())
    columns["prompt"] = conversation_turns.messages([turn.prompt for turn, _ in rows])
    columns[reply_a] = conversation_turns.assistant(
        [turn.replies[pair.chosen]["text"] for turn, pair in rows]
    )
    columns[reply_b] = conversation_turns.assistant(
        [turn.replies[pair.rejected]["text"] for turn, pair in rows]
    )
    columns[source_a] = pa.array(
        [turn.replies[pair.chosen]["source"] for turn, pair in rows], pa.string()
    ).dictionary_encode()
    columns[source_b] = pa.array(
        [turn.replies[pair.rejected]["source"] for turn, pair in rows], pa.string()
    ).dictionary_encode()
    columns["replies_shown"] = pa.array([len(turn.shown) for turn, _ in rows], pa.int32())
    columns["pair_from"] = pa.array([pair.origin for _, pair in rows], pa.string())
    columns["continued"] = pa.array([pair.chosen == turn.chosen for turn, pair in rows], pa.bool_())
    columns["edited"] = pa.array(
        [bool(turn.edited_text) and pair.chosen == turn.chosen for turn, pair in rows], pa.bool_()
    )
    columns["rationale"] = pa.array([turn.rationale or None for turn, _ in rows], pa.string())
    return pa.table(columns)


def _build(part: Part) -> pa.Table | None:
    """Only pairs with a winner: a DPO config holds strict preferences (ties are
    `conversation_ties`)."""
    strict = [(turn, pair) for turn, pair in pair_rows(part) if not pair.tie]
    return pairs_table(part, strict, ("chosen", "rejected", "chosen_source", "rejected_source"))


def _count(part: Part, tally: Tally) -> None:
    counts: Counter = Counter()
    for turn, pair in pair_rows(part):
        if not pair.tie:
            counts[
                (turn.replies[pair.chosen]["source"], turn.replies[pair.rejected]["source"])
            ] += 1
    tally.add_source_pairs(part.audience, dict(sorted(counts.items())))


def _card_columns(conversational: bool) -> str:
    return (
        "- Conversation turns as preferences (`conversation_preferences`): `prompt`, "
        "`chosen`, `rejected` in TRL's conversational form. `prompt` is the conversation "
        "as the models saw it at that turn (the seed's system prompt, persona and "
        "situation as one system message, each earlier message with the reply that "
        "continued it, edited if the participant edited it) ending with the "
        "participant's message; `chosen`/`rejected` are one assistant reply each. A "
        "choice gives one row per other reply shown, a ranking every pair it orders, "
        "ratings a pair per two replies; only pairs with a winner (replies rated alike are "
        "in the `-conversation-ties` configs). `turn` counts from 0; `conversation_id` "
        "names the conversation within this release; `chosen_source`/`rejected_source` "
        "are the endpoints' names; "
        "`continued` marks the pair whose chosen reply carried the conversation on and "
        "`edited` the ones where the participant then edited it."
    )


DATASET = Dataset(
    name="conversation_preferences",
    contents="preference pairs per conversation turn (TRL DPO, conversational)",
    columns=(
        "conversation_id",
        "turn",
        "prompt",
        "chosen",
        "rejected",
        "chosen_source",
        "rejected_source",
        "replies_shown",
        "pair_from",
        "continued",
        "edited",
        "rationale",
    ),
    build=_build,
    card_columns=_card_columns,
    count=_count,
    openai=openai.preference_record,
)
