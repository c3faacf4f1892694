"""Single-response ratings as KTO rows (TRL's unpaired ``prompt`` / ``completion`` /
``label``), one per judgement, with every attribute's score beside the label; the
scores are counted per item, attribute and value for the agreement metrics.

The label comes from the rubric's first attribute (the one the researcher lists
first: HelpSteer2 lists helpfulness first), against the scale's midpoint, as the
preference campaigns' ratings are labelled (`kto`): above is desirable, below
undesirable, and a score exactly at the midpoint says neither, so its row is left
out of this file (it stays in `rating_targets`' means). The card states the
attribute and the threshold.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def score_column(name: str) -> str:
    return f"score_{name}"


def rating_kto_table(
    context: tables.TableContext,
    judgements: pa.Table,
    items: tables.Items,
    people: tables.PeopleColumns,
    scores: np.ndarray,
    rubric: tuple[str, ...],
    midpoint: float,
) -> pa.Table:
    rated = scores[:, 0]
    rows = np.flatnonzero(rated != midpoint)
    item_pos = items.positions(judgements.column("item_id").to_numpy())[rows]
    person = people.positions(judgements.column("participant_id").to_numpy())[rows]
    flat = items.candidate_offsets[item_pos]  # the item's one response
    columns = tables.common_columns(context, items, people, item_pos, person)
    columns["prompt"] = tables.prompt_column(items, item_pos, conversational=context.conversational)
    columns["completion"] = tables.reply_column(
        items.candidate_texts, flat, conversational=context.conversational
    )
    columns["label"] = pa.array(rated[rows] > midpoint, pa.bool_())
    columns["rating"] = pa.array(rated[rows], pa.int64())
    columns["rated_attribute"] = tables.constant_array(rubric[0], len(rows))
    for k, name in enumerate(rubric):
        columns[score_column(name)] = pa.array(scores[rows, k], pa.int64())
    columns["source"] = tables.dictionary_array(flat, items.candidate_sources)
    columns["rationale"] = tables.optional_text(judgements, "rationale", rows)
    columns["confidence"] = judgements.column("confidence").take(pa.array(rows)).combine_chunks()
    return pa.table(columns)


def _build(part: Part) -> pa.Table | None:
    if part.scores is None or part.midpoint is None:
        return None
    return rating_kto_table(
        part.context,
        part.judgements,
        part.items,
        part.people,
        part.scores,
        part.rubric,
        part.midpoint,
    )


def _count(part: Part, tally: Tally) -> None:
    scores = part.scores
    if scores is None:
        return
    n, width = scores.shape
    tally.add_ratings(
        part.audience,
        part.start,
        len(part.items),
        np.repeat(part.item_pos, width),
        np.tile(np.arange(width), n),  # the attribute's position stands for the candidate's
        scores.reshape(-1),
    )


def _card_notes(campaign, inline) -> list[str]:
    low, high = campaign.rating_scale
    midpoint = (low + high) / 2
    first = campaign.rubric[0]["name"]
    if midpoint == int(midpoint):
        rule = (
            f"and false below it; judgements scoring exactly {midpoint:g} are left out of "
            "these rows (they count in the targets' means)"
        )
    else:
        rule = f"({int(midpoint) + 1} or more) and false otherwise"
    return [
        f"  - Threshold: `label` is true when `{first}` is above {midpoint:g}, the middle of "
        f"the {low}–{high} scale, {rule}."
    ]


DATASET = Dataset(
    name="rating_kto",
    contents="single-response ratings as KTO rows",
    columns=(
        "prompt",
        "completion",
        "label",
        "rating",
        "rated_attribute",
        "source",
        "rationale",
        "confidence",
    ),
    build=_build,
    card_columns=lambda conversational: (
        "- Rating KTO rows: `prompt`, `completion` (the rated response), `label` (the "
        "score of `rated_attribute`, the rubric's first attribute, above the scale's "
        "midpoint); `rating` is that score and `score_<attribute>` each attribute's score."
    ),
    count=_count,
    card_notes=_card_notes,
)
