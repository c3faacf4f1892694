"""Demonstrations (TRL's SFT formats: ``messages``, and ``prompt`` / ``completion``);
their words are counted for lexical diversity."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets import openai
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def demonstration_table(
    context: tables.TableContext,
    judgements: pa.Table,
    items: tables.Items,
    people: tables.PeopleColumns,
) -> pa.Table:
    item_pos = items.positions(judgements.column("item_id").to_numpy())
    person = people.positions(judgements.column("participant_id").to_numpy())
    texts = judgements.column("text").combine_chunks()
    n = judgements.num_rows
    columns = tables.common_columns(context, items, people, item_pos, person)
    columns["messages"] = tables.message_lists(items, item_pos, reply=texts)
    columns["prompt"] = tables.prompt_column(items, item_pos, conversational=context.conversational)
    columns["completion"] = (
        tables.reply_column(texts, np.arange(n), conversational=True)
        if context.conversational
        else texts
    )
    columns["draft"] = tables.dictionary_array(item_pos, items.draft)
    columns["rationale"] = judgements.column("rationale").combine_chunks()
    columns["confidence"] = judgements.column("confidence").combine_chunks()
    return pa.table(columns)


def _build(part: Part) -> pa.Table:
    return demonstration_table(part.context, part.judgements, part.items, part.people)


def _count(part: Part, tally: Tally) -> None:
    tally.add_texts(part.audience, part.judgements.column("text").combine_chunks())


DATASET = Dataset(
    name="demonstrations",
    contents="demonstrations (TRL SFT format)",
    columns=("messages", "prompt", "completion", "draft", "rationale", "confidence"),
    build=_build,
    card_columns=lambda conversational: (
        "- Demonstrations: `messages` (the conversation and the written reply), and the same "
        "as `prompt`/`completion`; `draft` is the text annotators started from."
    ),
    count=_count,
    openai=openai.demonstration_record,
)
