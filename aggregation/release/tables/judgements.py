"""Judgements expanded into numbers the datasets and tallies share: preference pairs
(choices, rankings, ratings), each judgement's top vote, vote and source-pair counts,
ranked places and ratings in long form."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aggregation.metrics import ranking_to_pairs
from aggregation.release.tables.columns import Items

TIE = "tie"
TIE_VOTE = -1
PAIR_ORIGINS = pa.array(["choice", "ranking", "rating"])


@dataclasses.dataclass
class Ratings:
    row: np.ndarray
    candidate: np.ndarray
    rating: np.ndarray


@dataclasses.dataclass
class Pairs:
    """Judgements expanded to pairs; positions are candidate positions within the item."""

    row: np.ndarray  # judgement row
    chosen: np.ndarray
    rejected: np.ndarray
    tie: np.ndarray
    origin: np.ndarray  # index into PAIR_ORIGINS


def _position_lookup(items: Items, item_pos: int) -> dict[str, int]:
    return {cid: i for i, cid in enumerate(items.candidate_lists[item_pos])}


def preference_pairs(judgements: pa.Table, items: Items, item_pos: np.ndarray, fmt: str) -> Pairs:
    """Choices give one pair (a tie keeps the listed order, chosen = first candidate);
    rankings expand to every pair they imply; ratings give a pair per two candidates,
    the higher rated chosen, equal ratings a tie in listed order."""
    n = judgements.num_rows
    if fmt == "choice":
        choice = judgements.column("choice")
        first = pc.take(items.candidate_ids, pa.array(items.candidate_offsets[item_pos]))
        is_first = pc.fill_null(pc.equal(choice, first), False).to_numpy(zero_copy_only=False)
        tie = pc.fill_null(pc.equal(choice, TIE), False).to_numpy(zero_copy_only=False)
        chosen = np.where(is_first | tie, 0, 1)
        return Pairs(np.arange(n), chosen, 1 - chosen, tie, np.zeros(n, dtype=np.int32))
    rows, chosen, rejected, tie = [], [], [], []
    if fmt == "ranking":
        for j, raw in enumerate(judgements.column("ranking").to_pylist()):
            if raw is None:
                continue
            lookup = _position_lookup(items, item_pos[j])
            ranking = [lookup[cid] for cid in json.loads(raw)]
            for pair in ranking_to_pairs(ranking):
                rows.append(j)
                chosen.append(pair.winner)
                rejected.append(pair.loser)
                tie.append(pair.tie)
        origin = 1
    else:
        for j, raw in enumerate(judgements.column("ratings").to_pylist()):
            if raw is None:
                continue
            ratings = json.loads(raw)
            ids = items.candidate_lists[item_pos[j]]
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    ra, rb = ratings[ids[a]], ratings[ids[b]]
                    rows.append(j)
                    chosen.append(a if ra >= rb else b)
                    rejected.append(b if ra >= rb else a)
                    tie.append(ra == rb)
        origin = 2
    return Pairs(
        np.asarray(rows, dtype=np.int64),
        np.asarray(chosen, dtype=np.int64),
        np.asarray(rejected, dtype=np.int64),
        np.asarray(tie, dtype=bool),
        np.full(len(rows), origin, dtype=np.int32),
    )


def top_votes(
    judgements: pa.Table, items: Items, item_pos: np.ndarray, fmt: str, pairs: Pairs | None = None
) -> np.ndarray:
    """Each judgement's vote: the candidate position put first, or TIE_VOTE.

    As `collection.payloads.top_choice`: the choice, else the ranking's first,
    else the single highest rating (several highest: a tie). For choices, pass
    the judgements' `preference_pairs` if they are at hand.
    """
    n = judgements.num_rows
    if fmt == "choice":
        pairs = pairs or preference_pairs(judgements, items, item_pos, fmt)
        return np.where(pairs.tie, TIE_VOTE, pairs.chosen).astype(np.int64)
    votes = np.full(n, TIE_VOTE, dtype=np.int64)
    column = "ranking" if fmt == "ranking" else "ratings"
    for j, raw in enumerate(judgements.column(column).to_pylist()):
        if raw is None:
            continue
        lookup = _position_lookup(items, item_pos[j])
        value = json.loads(raw)
        if fmt == "ranking":
            votes[j] = lookup[value[0]]
        else:
            best = max(value.values())
            leaders = [cid for cid, rating in value.items() if rating == best]
            if len(leaders) == 1:
                votes[j] = lookup[leaders[0]]
    return votes


def source_pair_counts(items: Items, item_pos: np.ndarray, pairs: Pairs) -> dict:
    """Decided pairs counted by (winner source, loser source), for Bradley–Terry."""
    decided = ~pairs.tie
    base = items.candidate_offsets[item_pos[pairs.row[decided]]]
    winners, losers = base + pairs.chosen[decided], base + pairs.rejected[decided]
    if not len(winners):
        return {}
    codes, names = items.source_codes
    counts = count_pairs(codes[winners], codes[losers], len(names), len(names))
    winner, loser = np.nonzero(counts)
    return {
        (names[w], names[v]): int(counts[w, v])
        for w, v in zip(winner.tolist(), loser.tolist(), strict=True)
    }


def ranks_long(judgements: pa.Table, items: Items, item_pos: np.ndarray) -> Ratings:
    """Each ranked candidate's place (0 = best), for agreement on rankings."""
    rows, candidates, places = [], [], []
    for j, raw in enumerate(judgements.column("ranking").to_pylist()):
        if raw is None:
            continue
        lookup = _position_lookup(items, item_pos[j])
        for place, cid in enumerate(json.loads(raw)):
            rows.append(j)
            candidates.append(lookup[cid])
            places.append(place)
    return Ratings(
        np.asarray(rows, dtype=np.int64),
        np.asarray(candidates, dtype=np.int64),
        np.asarray(places, dtype=np.int64),
    )


def count_pairs(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int):
    """How often each (row, column) occurs, as an n_rows × n_columns array."""
    flat = np.bincount(rows * n_columns + columns, minlength=n_rows * n_columns)
    return flat.reshape(n_rows, n_columns)


def vote_counts(items: Items, item_pos: np.ndarray, votes: np.ndarray):
    """Votes (see `top_votes`) counted per chunk item: outright votes per candidate
    position (items × the chunk's widest candidate list), and tie votes per item."""
    width = int(np.diff(items.candidate_offsets).max(initial=0))
    tie = votes == TIE_VOTE
    counts = count_pairs(item_pos[~tie], votes[~tie], len(items), width)
    return counts, np.bincount(item_pos[tie], minlength=len(items))


def ratings_long(judgements: pa.Table, items: Items, item_pos: np.ndarray) -> Ratings:
    rows, candidates, values = [], [], []
    for j, raw in enumerate(judgements.column("ratings").to_pylist()):
        if raw is None:
            continue
        ratings = json.loads(raw)
        for position, cid in enumerate(items.candidate_lists[item_pos[j]]):
            rows.append(j)
            candidates.append(position)
            values.append(ratings[cid])
    return Ratings(
        np.asarray(rows, dtype=np.int64),
        np.asarray(candidates, dtype=np.int64),
        np.asarray(values, dtype=np.int64),
    )
