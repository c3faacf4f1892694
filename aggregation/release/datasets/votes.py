"""Vote distributions, one row per item and audience: each candidate's votes and share
(soft labels that keep disagreement), counted for the agreement and pluralism metrics
too."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.metrics import vote_shares
from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Part
from aggregation.release.tally import Tally


def votes_table(
    context: tables.TableContext, items: tables.Items, votes: np.ndarray, ties: np.ndarray
) -> pa.Table:
    """One row per item with votes: each candidate's votes and share (a tie counts as an
    equal fraction of a vote for each candidate), the ties and the total: soft labels.

    ``votes`` and ``ties`` are `vote_counts` for one audience; shares are
    `aggregation.metrics.vote_shares`, as `aggregation.metrics.vote_distribution`
    computes them from one row per judgement.
    """
    sizes = np.diff(items.candidate_offsets)
    total = votes.sum(axis=1) + ties
    rows = np.flatnonzero(total > 0)
    n = len(rows)
    lengths = sizes[rows]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    row_of = np.repeat(np.arange(n), lengths)
    position = np.arange(int(offsets[-1])) - offsets[:-1][row_of]
    flat = items.candidate_offsets[rows][row_of] + position
    shares = vote_shares(votes[rows], ties[rows], lengths)
    fields = {
        "id": tables.dictionary_array(flat, items.candidate_ids),
        "text": tables.dictionary_array(flat, items.candidate_texts),
        "source": tables.dictionary_array(flat, items.candidate_sources),
    }
    if context.conversational:  # each candidate's turns, all of them when it has several
        fields["messages"] = tables.candidate_column(items, flat, conversational=True)
    candidates = pa.StructArray.from_arrays(list(fields.values()), list(fields))
    columns = tables.item_columns(context, items, rows) | {
        "prompt": tables.prompt_column(items, rows, conversational=context.conversational),
        "candidates": pa.ListArray.from_arrays(pa.array(offsets), candidates),
        "votes": pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(votes[rows][row_of, position], pa.int64())
        ),
        "shares": pa.ListArray.from_arrays(
            pa.array(offsets), pa.array(shares[row_of, position], pa.float64())
        ),
        "ties": pa.array(ties[rows], pa.int64()),
        "total": pa.array(total[rows], pa.int64()),
    }
    return pa.table(columns | tables.episode_columns(context, items, rows))


def _build(part: Part) -> pa.Table:
    return part.votes


def _count(part: Part, tally: Tally) -> None:
    tally.add_votes(part.audience, part.start, *part.vote_counts)


DATASET = Dataset(
    name="preference_votes",
    contents="vote distribution per item (soft labels)",
    columns=("prompt", "candidates", "votes", "shares", "ties", "total"),
    build=_build,
    card_columns=lambda conversational: (
        "- Preference votes: per item, `candidates` (`id`, `text`, `source`, and in "
        "conversational releases `messages`: the candidate's turns, all of them when it "
        "goes on past its first reply), `votes` and `shares` (a tie counts half a vote for "
        "each of two candidates), `ties` and `total`."
    ),
    count=_count,
)
