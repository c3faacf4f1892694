"""Counts for the metrics, gathered while a release's files are written.

Every metric of a campaign is a function of a few counts: per (audience,
item), the judgements, the votes for each candidate and the ties, and how
often each candidate got each rating or place; per (audience, participant),
the judgements; per audience, the decided pairs by (winner source, loser
source); and the distinct words of prompts and demonstrations. `Tally` keeps
those, a few bytes per item rather than per judgement, so memory stays flat
however many judgements a campaign has, and `metrics_document` turns them
into metrics.json's ``metrics`` (`aggregation.metrics.document`), through the
same functions the dashboard and the tests call. Positions are an item's index in the campaign's
ordinary items (sorted ids) and a candidate's index in its item's list.
"""

from __future__ import annotations

import bisect
import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa

from aggregation import metrics
from aggregation.release import tables


@dataclasses.dataclass
class PublishedPeople:
    """One audience's participants as the metrics count them: attribute values as
    published (None where not given or suppressed) and weights; `tables.PeopleColumns`
    is the same people as their rows show them."""

    ids: np.ndarray
    attributes: pd.DataFrame  # one row per participant, one column per attribute
    weights: np.ndarray
    weighted: bool
    weighting_note: str = ""
    suppressed_participants: int = 0


def _widen(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    if array.shape[axis] >= size:
        return array
    shape = list(array.shape)
    shape[axis] = size - shape[axis]
    return np.concatenate([array, np.zeros(shape, dtype=array.dtype)], axis=axis)


class Tally:
    """The counts behind every metric of one campaign (see the module docstring)."""

    def __init__(
        self,
        *,
        item_kind: str,
        preference_format: str,
        rating_scale: tuple[int, int] | None,
        audiences: list,  # selectors.AudienceInfo
        people: dict[int, PublishedPeople],
        item_ids: np.ndarray,
        rubric: tuple[str, ...] = (),
    ):
        self.item_kind = item_kind
        # Single-response ratings: the attributes scored, whose positions stand in for
        # candidate positions in `ratings` (a rating item has one response).
        self.rubric = tuple(rubric)
        self.preference_format = preference_format
        self.rating_scale = tuple(rating_scale) if rating_scale else None
        self.audiences = list(audiences)
        self.people = people
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        n_audiences, n_items = len(self.audiences), len(self.item_ids)
        self.judgements = np.zeros((n_audiences, n_items), dtype=np.int64)
        self.load = [np.zeros(len(people[a.id].ids), dtype=np.int64) for a in self.audiences]
        self.n_candidates = np.zeros(n_items, dtype=np.int64)
        # Per chunk read: its first item position; its external ids and candidate ids
        # (not its text, which would make memory grow with the campaign).
        self._chunk_starts: list[int] = []
        self._chunk_ids: list[tuple[pa.Array, np.ndarray, pa.Array]] = []
        # Votes per candidate position; ties apart.
        self.votes = np.zeros((n_audiences, n_items, 0), dtype=np.int32)
        self.ties = np.zeros((n_audiences, n_items), dtype=np.int32)
        # Per candidate position: how often each rating (scale order) or place was given.
        self.ratings: np.ndarray | None = None
        self.ranks: np.ndarray | None = None
        # (audience position, winner source, loser source) -> decided pairs
        self.source_pairs: dict[tuple[int, str, str], int] = {}
        self.prompts = metrics.LexicalDiversity()
        self.texts: dict[int, metrics.LexicalDiversity] = {}

    # Gathering, one chunk of consecutive items at a time --------------------------------

    def add_items(self, start: int, items: tables.Items) -> None:
        self._chunk_starts.append(start)
        self._chunk_ids.append((items.external_id, items.candidate_offsets, items.candidate_ids))
        self.n_candidates[start : start + len(items)] = np.diff(items.candidate_offsets)
        self.prompts.update(items.prompt)

    def _ids_of(self, pos: int) -> tuple[tuple[pa.Array, np.ndarray, pa.Array], int]:
        k = bisect.bisect_right(self._chunk_starts, pos) - 1
        return self._chunk_ids[k], pos - self._chunk_starts[k]

    def external_id(self, pos: int) -> str | None:
        (external_ids, _, _), i = self._ids_of(pos)
        return external_ids[i].as_py()

    def candidate_id(self, pos: int, position: int) -> str:
        (_, offsets, candidate_ids), i = self._ids_of(pos)
        return candidate_ids[int(offsets[i]) + position].as_py()

    def add_judgements(
        self, a: int, start: int, n_items: int, item_pos: np.ndarray, person_pos: np.ndarray
    ) -> None:
        """Judgements by chunk item position (``item_pos``, from ``start``) and by the
        participant's position among the audience's people."""
        self.judgements[a, start : start + n_items] += np.bincount(item_pos, minlength=n_items)
        self.load[a] += np.bincount(person_pos, minlength=len(self.load[a]))

    def add_votes(self, a: int, start: int, votes: np.ndarray, ties: np.ndarray) -> None:
        """A chunk's vote counts (see `tables.vote_counts`): items × candidate positions,
        and tie votes per item."""
        self.votes = _widen(self.votes, 2, votes.shape[1])
        self.votes[a, start : start + len(votes), : votes.shape[1]] += votes.astype(np.int32)
        self.ties[a, start : start + len(ties)] += ties.astype(np.int32)

    def add_ratings(self, a, start, n_items, item_pos, candidate, value) -> None:
        """One row per (judgement, candidate) rated, with the rating given."""
        low, high = self.rating_scale
        if len(value) and (value.min() < low or value.max() > high):
            raise ValueError("a rating lies outside the campaign's scale")
        self.ratings = self._add_values(
            self.ratings, a, start, n_items, item_pos, candidate, value - low, high - low + 1
        )

    def add_ranks(self, a, start, n_items, item_pos, candidate, place) -> None:
        """One row per (judgement, candidate) ranked, with its place (0 = best)."""
        self.ranks = self._add_values(
            self.ranks,
            a,
            start,
            n_items,
            item_pos,
            candidate,
            place,
            int(place.max(initial=-1)) + 1,
        )

    def _add_values(self, array, a, start, n_items, item_pos, candidate, value, n_values):
        if array is None:
            array = np.zeros((len(self.audiences), len(self.item_ids), 0, 0), dtype=np.int32)
        array = _widen(_widen(array, 2, int(candidate.max(initial=-1)) + 1), 3, n_values)
        width, n_values = array.shape[2], array.shape[3]
        block = tables.count_pairs(
            item_pos, candidate * n_values + value, n_items, width * n_values
        )
        array[a, start : start + n_items] += block.reshape(n_items, width, n_values).astype(
            np.int32
        )
        return array

    def add_source_pairs(self, a: int, counts: dict) -> None:
        """Decided pairs by (winner source, loser source); as `metrics.bradley_terry`,
        pairs with a missing source or the same source on both sides are dropped."""
        for (winner, loser), n in counts.items():
            if winner is not None and loser is not None and winner != loser:
                key = (a, winner, loser)
                self.source_pairs[key] = self.source_pairs.get(key, 0) + n

    def add_texts(self, a: int, texts) -> None:
        """Demonstrations (an Arrow array or a list of texts; missing ones are skipped)."""
        self.texts.setdefault(a, metrics.LexicalDiversity()).update(texts)

    # Counts the release reports --------------------------------------------------------

    def participant_ids(self, a: int) -> np.ndarray:
        return self.people[self.audiences[a].id].ids[self.load[a] > 0]

    def summary(self) -> dict:
        per_audience = {
            audience.slug: {
                "judgements": int(self.judgements[a].sum()),
                "items": int(np.count_nonzero(self.judgements[a])),
                "participants": int(np.count_nonzero(self.load[a])),
            }
            for a, audience in enumerate(self.audiences)
        }
        everyone = [self.participant_ids(a) for a in range(len(self.audiences))]
        return {
            "items": len(self.item_ids),
            "judgements": int(self.judgements.sum()),
            "participants": len(np.unique(np.concatenate([np.zeros(0, np.int64), *everyone]))),
            "audiences": per_audience,
        }
