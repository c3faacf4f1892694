"""Question–answer pairs: the annotator's ``answer`` and ``sources`` beside the item's
``question`` and reference."""

from __future__ import annotations

import json

import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets import openai
from aggregation.release.datasets.base import Dataset, Part


def qa_table(
    context: tables.TableContext,
    judgements: pa.Table,
    items: tables.Items,
    people: tables.PeopleColumns,
) -> pa.Table:
    item_pos = items.positions(judgements.column("item_id").to_numpy())
    person = people.positions(judgements.column("participant_id").to_numpy())
    sources = [json.loads(raw) if raw else [] for raw in judgements.column("sources").to_pylist()]
    columns = tables.common_columns(context, items, people, item_pos, person)
    columns["question"] = tables.dictionary_array(item_pos, items.question)
    columns["answer"] = judgements.column("text").combine_chunks()
    columns["sources"] = pa.array(sources, pa.list_(pa.string()))
    columns["reference_answer"] = tables.dictionary_array(item_pos, items.reference_answer)
    columns["reference_sources"] = items.reference_sources.take(pa.array(item_pos))
    columns["prompt"] = tables.dictionary_array(item_pos, items.prompt)
    columns["rationale"] = judgements.column("rationale").combine_chunks()
    columns["confidence"] = judgements.column("confidence").combine_chunks()
    return pa.table(columns)


def _build(part: Part) -> pa.Table:
    return qa_table(part.context, part.judgements, part.items, part.people)


DATASET = Dataset(
    name="qa",
    contents="question–answer pairs",
    columns=(
        "question",
        "answer",
        "sources",
        "reference_answer",
        "reference_sources",
        "prompt",
        "rationale",
        "confidence",
    ),
    build=_build,
    card_columns=lambda conversational: (
        "- Question–answer: `question`, `answer`, `sources`, and the item's `reference_answer`."
    ),
    openai=openai.qa_record,
)
