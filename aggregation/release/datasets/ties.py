"""Tied pairs, apart from the DPO configs: one row per pair a judgement left equal (a
"tie" choice, two candidates rated alike, a ranking's equal places), the two candidates
in the order they were listed. Useful where ties carry signal (reward models with a tie
outcome, calibration, agreement); never a chosen and a rejected, so nothing trains DPO
on them by mistake."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.datasets.preferences import pairs_table

TIE_NAMES = ("completion_a", "completion_b", "id_a", "id_b", "source_a", "source_b")


def ties_table(part: Part) -> pa.Table | None:
    keep = np.flatnonzero(part.pairs.tie)
    if not len(keep):
        return None
    return pairs_table(part, keep, names=TIE_NAMES)


DATASET = Dataset(
    name="ties",
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
