"""Ratings as KTO rows (unpaired ``prompt`` / ``completion`` / ``label``); the ratings
are counted per candidate and value for the agreement metrics."""

from __future__ import annotations

import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def kto_table(
    context: tables.TableContext,
    judgements: pa.Table,
    items: tables.Items,
    people: tables.PeopleColumns,
    ratings: tables.Ratings,
    midpoint: float,
) -> pa.Table:
    """KTO rows from ratings: label = rating above the scale's midpoint; ratings at
    the midpoint say neither and are left out."""
    keep = ratings.rating != midpoint
    rows, candidate, rating = ratings.row[keep], ratings.candidate[keep], ratings.rating[keep]
    item_pos = items.positions(judgements.column("item_id").to_numpy())[rows]
    person = people.positions(judgements.column("participant_id").to_numpy())[rows]
    flat = items.candidate_offsets[item_pos] + candidate
    columns = tables.common_columns(context, items, people, item_pos, person)
    columns["prompt"] = tables.prompt_column(items, item_pos, conversational=context.conversational)
    columns["completion"] = tables.candidate_column(
        items, flat, conversational=context.conversational
    )
    columns["label"] = pa.array(rating > midpoint, pa.bool_())
    columns["rating"] = pa.array(rating, pa.int64())
    columns["candidate_id"] = tables.dictionary_array(flat, items.candidate_ids)
    columns["source"] = tables.dictionary_array(flat, items.candidate_sources)
    return pa.table(columns)


def _build(part: Part) -> pa.Table | None:
    if part.ratings is None or part.midpoint is None:
        return None
    return kto_table(
        part.context, part.judgements, part.items, part.people, part.ratings, part.midpoint
    )


def _count(part: Part, tally: Tally) -> None:
    ratings = part.ratings
    if ratings is None:
        return
    tally.add_ratings(
        part.audience,
        part.start,
        len(part.items),
        part.item_pos[ratings.row],
        ratings.candidate,
        ratings.rating,
    )


DATASET = Dataset(
    name="ratings_kto",
    contents="ratings as KTO rows",
    columns=("prompt", "completion", "label", "rating", "candidate_id", "source"),
    build=_build,
    card_columns=lambda conversational: (
        "- KTO rows: `prompt`, `completion`, `label` (rating above the scale's midpoint); "
        "ratings exactly at the midpoint are left out; `rating` keeps the raw value."
    ),
    count=_count,
)
