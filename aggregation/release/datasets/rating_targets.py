"""Single-response ratings as regression targets for reward models: one row per item
and audience, with each rubric attribute's mean score, its standard deviation and the
number of judgements it rests on (HelpSteer2's shape, Wang et al., 2024,
arXiv:2406.08673: a prompt, a response and one column per attribute, kept per
audience here instead of averaged over everyone).

Means are plain (every judgement counts once); ``weight`` columns of the KTO rows
let a public audience's rows be post-stratified instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part


def mean_column(name: str) -> str:
    return f"mean_{name}"


def std_column(name: str) -> str:
    return f"std_{name}"


def rating_targets_table(
    context: tables.TableContext,
    items: tables.Items,
    item_pos: np.ndarray,
    scores: np.ndarray,
    rubric: tuple[str, ...],
) -> pa.Table:
    """``item_pos``: each judgement's item position in the chunk; ``scores``: judgements ×
    attributes. The sample standard deviation (n − 1) is null for an item judged once."""
    counts = np.bincount(item_pos, minlength=len(items))
    rows = np.flatnonzero(counts)
    n = counts[rows].astype(np.float64)
    columns = tables.item_columns(context, items, rows)
    columns["prompt"] = tables.prompt_column(items, rows, conversational=context.conversational)
    flat = items.candidate_offsets[rows]
    columns["response"] = tables.reply_column(
        items.candidate_texts, flat, conversational=context.conversational
    )
    columns["source"] = tables.dictionary_array(flat, items.candidate_sources)
    columns["n"] = pa.array(counts[rows], pa.int64())
    several = n > 1
    for k, name in enumerate(rubric):
        values = scores[:, k].astype(np.float64)
        mean = np.bincount(item_pos, weights=values, minlength=len(items)) / np.maximum(counts, 1)
        squares = np.bincount(
            item_pos, weights=(values - mean[item_pos]) ** 2, minlength=len(items)
        )[rows]
        std = np.sqrt(np.divide(squares, n - 1, out=np.zeros_like(n), where=several))
        columns[mean_column(name)] = pa.array(mean[rows], pa.float64())
        columns[std_column(name)] = pa.array(std, pa.float64(), mask=~several)
    return pa.table(columns | tables.episode_columns(context, items, rows))


def _build(part: Part) -> pa.Table | None:
    if part.scores is None:
        return None
    return rating_targets_table(part.context, part.items, part.item_pos, part.scores, part.rubric)


def _card_notes(campaign, inline) -> list[str]:
    low, high = campaign.rating_scale
    lines = [f"  - Attributes, each scored from {low} to {high}:"]
    for attribute in campaign.rubric:
        meaning = f": {inline(attribute['description'])}" if attribute.get("description") else ""
        lines.append(f"    - `{attribute['name']}` ({inline(attribute['label'])}){meaning}")
    return lines


DATASET = Dataset(
    name="rating_targets",
    contents="mean score per attribute per item (reward-model targets)",
    columns=("prompt", "response", "source", "n"),
    build=_build,
    card_columns=lambda conversational: (
        "- Rating targets: per item, `prompt`, `response`, `source`, `n` (judgements), and "
        "for each rubric attribute `mean_<attribute>` and `std_<attribute>` (sample "
        "standard deviation; null when n is 1)."
    ),
    card_notes=_card_notes,
)
