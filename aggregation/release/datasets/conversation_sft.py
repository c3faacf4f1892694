"""Demonstrations from conversations: a participant's edit of the reply they chose,
one row per edited turn, in TRL's SFT formats (``messages``, and ``prompt`` /
``completion`` conversational), with the model reply it replaced."""

from __future__ import annotations

import pyarrow as pa

from aggregation.release.datasets import openai
from aggregation.release.datasets import turns as conversation_turns
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def _edited(part: Part) -> list[conversation_turns.TurnRecord]:
    return [turn for turn in conversation_turns.turn_records(part) if turn.edited_text]


def _build(part: Part) -> pa.Table | None:
    turns = _edited(part)
    if not turns:
        return None
    columns = conversation_turns.row_columns(
        part, [turn.item_id for turn in turns], [turn.participant_id for turn in turns]
    )
    columns["turn"] = pa.array([turn.index for turn in turns], pa.int32())
    columns["messages"] = conversation_turns.messages(
        [[*turn.prompt, {"role": "assistant", "content": turn.edited_text}] for turn in turns]
    )
    columns["prompt"] = conversation_turns.messages([turn.prompt for turn in turns])
    columns["completion"] = conversation_turns.assistant([turn.edited_text for turn in turns])
    columns["original"] = pa.array(
        [turn.replies[turn.chosen]["text"] for turn in turns], pa.string()
    )
    columns["original_source"] = pa.array(
        [turn.replies[turn.chosen]["source"] for turn in turns], pa.string()
    ).dictionary_encode()
    return pa.table(columns)


def _count(part: Part, tally: Tally) -> None:
    turns = _edited(part)
    if turns:
        tally.add_texts(part.audience, [turn.edited_text for turn in turns])


DATASET = Dataset(
    name="conversation_sft",
    contents="participants' edits of model replies (TRL SFT, conversational)",
    columns=(
        "conversation_id",
        "turn",
        "messages",
        "prompt",
        "completion",
        "original",
        "original_source",
    ),
    build=_build,
    card_columns=lambda conversational: (
        "- Edits (`conversation_sft`): where a participant edited the reply they chose, "
        "`messages` is the conversation up to that turn ending with their edit, and the "
        "same as `prompt`/`completion`; `original` is the model's reply they edited and "
        "`original_source` its endpoint."
    ),
    count=_count,
    openai=openai.demonstration_record,
)
