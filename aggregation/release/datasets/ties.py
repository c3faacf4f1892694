"""Tied pairs, apart from the DPO configs: one row per pair a judgement left equal (a
"tie" choice, two candidates rated alike, a ranking's equal places), the two candidates
in the order they were listed. Useful where ties carry signal (reward models with a tie
outcome, calibration, agreement); never a chosen and a rejected, so nothing trains DPO
on them by mistake."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.datasets.preferences import pair_columns, rating_gap


def ties_table(part: Part) -> pa.Table | None:
    pairs = part.pairs
    keep = np.flatnonzero(pairs.tie)
    if not len(keep):
        return None
    columns, (first, second) = pair_columns(part, keep)
    items, conversational = part.items, part.context.conversational
    columns["completion_a"] = tables.candidate_column(items, first, conversational=conversational)
    columns["completion_b"] = tables.candidate_column(items, second, conversational=conversational)
    columns["id_a"] = tables.dictionary_array(first, items.candidate_ids)
    columns["id_b"] = tables.dictionary_array(second, items.candidate_ids)
    columns["source_a"] = tables.dictionary_array(first, items.candidate_sources)
    columns["source_b"] = tables.dictionary_array(second, items.candidate_sources)
    columns["pair_from"] = tables.dictionary_array(
        pairs.origin[keep], tables.PAIR_ORIGINS, unique=True
    )
    columns["rating_gap"] = rating_gap(part, keep)
    rows = pairs.row[keep]
    columns["rationale"] = tables.optional_text(part.judgements, "rationale", rows)
    columns["confidence"] = tables.optional_text(part.judgements, "confidence", rows)
    return pa.table(columns)


DATASET = Dataset(
    name="ties",
    item_kind="preference",
    contents="tied pairs, kept out of the DPO configs",
    columns=(
        "prompt",
        "completion_a",
        "completion_b",
        "id_a",
        "id_b",
        "source_a",
        "source_b",
        "pair_from",
        "rating_gap",
        "rationale",
        "confidence",
    ),
    build=ties_table,
    card_columns=lambda conversational: (
        "- Ties: one row per tied pair, `prompt` with `completion_a`/`completion_b` in the "
        "order the candidates were listed (no chosen or rejected: filter nothing, train no "
        "DPO on them)."
    ),
)
