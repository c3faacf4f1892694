"""Per-group soft labels for group-conditioned methods (GPO, distributional preference
learning): one row per (item, audience) and one per (item, stratum cell), each with every
candidate's votes and share and the number of votes behind them (``total``).

A stratum cell is one combination of all the audience's attribute values, as published:
participants whose values are suppressed are in no cell, and a cell gets rows only when
at least ``min_cell_size`` of the audience's participants are in it, so no row describes
a smaller group than the files already show. Shares count a tie as an equal fraction of a
vote for each candidate, as `preference_votes` does (`aggregation.metrics.vote_shares`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.datasets.votes import votes_table

GROUPS = pa.array(["audience", "cell"])


def stratum_cells(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """Each participant's cell (-1: none) and each cell's attribute codes (cells × attributes),
    worked out once per audience."""
    key = ("soft_labels", part.audience)
    if key not in part.views.state:
        people = part.people
        names = list(people.attributes)
        n = len(people.ids)
        cell_of = np.full(n, -1, dtype=np.int64)
        cells = np.zeros((0, len(names)), dtype=np.int64)
        if names and n:
            codes = np.stack([people.attributes[name][0] for name in names], axis=1)
            known = (codes >= 0).all(axis=1)
            found, inverse, sizes = np.unique(
                codes[known], axis=0, return_inverse=True, return_counts=True
            )
            big = sizes >= part.views.min_cell_size
            number = np.where(big, np.cumsum(big) - 1, -1)
            cell_of[known] = number[inverse.reshape(-1)]
            cells = found[big]
        part.views.state[key] = (cell_of, cells)
    return part.views.state[key]


FRONT = ("item_id", "external_id", "audience", "competence", "transience")


def _group_columns(part: Part, n: int, codes: np.ndarray | None) -> dict:
    """``group`` and the cell's attribute values (null in the audience's own rows)."""
    columns = {"group": tables.dictionary_array(np.full(n, codes is not None), GROUPS, unique=True)}
    for a, (name, (_, allowed)) in enumerate(part.people.attributes.items()):
        if codes is None:
            columns[f"attr_{name}"] = tables.dictionary_array(
                np.zeros(n), allowed, mask=np.ones(n, bool)
            )
        else:
            columns[f"attr_{name}"] = tables.dictionary_array(np.full(n, codes[a]), allowed)
    return columns


def soft_labels_table(part: Part) -> pa.Table | None:
    """The chunk's rows, item by item: the audience's, then its cells' in cell order."""
    items, context = part.items, part.context
    pieces = [(0, None, part.votes)]
    cell_of, cells = stratum_cells(part)
    if len(cells):
        votes = part.top_votes
        judgement_cell = cell_of[part.person]
        for c in np.unique(judgement_cell[judgement_cell >= 0]).tolist():
            mine = judgement_cell == c
            counts = tables.vote_counts(items, part.item_pos[mine], votes[mine])
            pieces.append((c + 1, cells[c], votes_table(context, items, *counts)))
    labelled, rank = [], []
    for group, codes, table in pieces:
        columns = dict(zip(table.column_names, table.columns, strict=True))
        front = {name: columns.pop(name) for name in FRONT}
        labelled.append(pa.table(front | _group_columns(part, table.num_rows, codes) | columns))
        rank.append(np.full(table.num_rows, group))
    table = pa.concat_tables(labelled)
    if not table.num_rows:
        return None
    order = np.lexsort((np.concatenate(rank), table.column("item_id").to_numpy()))
    return table.take(pa.array(order)).combine_chunks()


DATASET = Dataset(
    name="soft_labels",
    contents="vote shares per item for the audience and each stratum cell (soft labels)",
    columns=("group", "prompt", "candidates", "votes", "shares", "ties", "total"),
    build=soft_labels_table,
    card_columns=lambda conversational: (
        "- Soft labels: per item, a row for the whole audience (`group` = audience) and one "
        "per stratum cell (`group` = cell: one combination of every attribute, its values "
        "in the `attr_` columns) with at least the minimum cell size of participants; "
        "`votes` and `shares` per candidate and `total`, the votes they rest on."
    ),
    recipe=(
        "**Group-conditioned (GPO style)**: per group (`<audience>-soft-labels`, the "
        "audience and its stratum cells), the in-context examples are prompts with their "
        "`shares`; a model learns to predict a new group's shares from a few of its rows. "
        "Keep `total` in view: a share over 2 votes is not one over 200."
    ),
)
