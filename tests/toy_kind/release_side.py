"""The release side of the toy kind: one file of verdicts per audience."""

from __future__ import annotations

import pyarrow as pa

from aggregation.release import kinds, tables
from aggregation.release.datasets import Dataset, Part, participants


def _build(part: Part) -> pa.Table:
    judgements = part.judgements
    item_pos = part.item_pos
    columns = tables.common_columns(part.context, part.items, part.people, item_pos, part.person)
    columns["prompt"] = tables.prompt_column(
        part.items, item_pos, conversational=part.context.conversational
    )
    # The claim comes as the item's one candidate (`Verdict.candidates`).
    columns["claim"] = part.items.candidate_texts.take(
        pa.array(part.items.candidate_offsets[item_pos])
    )
    columns["verdict"] = judgements.column("choice").combine_chunks()
    return pa.table(columns)


VERDICTS = Dataset(
    name="verdicts",
    contents="one verdict on a claim per row",
    columns=("prompt", "claim", "verdict"),
    build=_build,
    card_columns=lambda conversational: "- Verdicts: `claim`, and `verdict` (agree or disagree).",
)


class Verdict(kinds.ReleaseKind):
    name = "verdict"
    datasets = (VERDICTS, participants.DATASET)
    card_tags = ("text-classification",)
    # The judgement lands in one of the columns every kind may fill (`JUDGEMENT_COLUMNS`).
    judgement_columns = {"choice": "r.payload->>'verdict'"}
    candidates = "jsonb_build_array(jsonb_build_object('id', 'claim', 'text', i.payload->>'claim'))"


def register() -> kinds.ReleaseKind:
    return kinds.register(Verdict())
