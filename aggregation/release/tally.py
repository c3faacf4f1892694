"""Counts for the metrics, gathered while a release's files are written.

Every metric of a campaign is a function of a few counts: per (audience,
item), the judgements, the votes for each candidate and the ties, and how
often each candidate got each rating or place; per (audience, participant),
the judgements; per audience, the decided pairs by (winner source, loser
source); and the distinct words of prompts and demonstrations. `Tally` keeps
those, a few bytes per item rather than per judgement, so memory stays flat
however many judgements a campaign has, and `metrics_document` turns them
into metrics.json's ``metrics`` through the pure functions in
`aggregation.metrics`. Positions are an item's index in the campaign's
ordinary items (sorted ids) and a candidate's index in its item's list.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import warnings
from itertools import combinations

import choix
import numpy as np
import pandas as pd
import pyarrow as pa

from aggregation import metrics
from aggregation.exporters import tables

TOP_ITEMS = 10
METRIC_PARTS = frozenset({"coverage", "diversity", "agreement", "pluralism"})


@dataclasses.dataclass
class AudiencePeople:
    """One audience's participants: attribute values as published (None where not given
    or suppressed) and weights."""

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
        people: dict[int, AudiencePeople],
        item_ids: np.ndarray,
    ):
        self.item_kind = item_kind
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


# The metrics -----------------------------------------------------------------------------


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def bradley_terry_from_counts(counts: dict, *, alpha: float = 0.01) -> pd.Series:
    """`aggregation.metrics.bradley_terry` fitted from a win-count matrix.

    The same model, regulariser and algorithm (choix's iterative Luce spectral
    ranking): ``choix.ilsr_pairwise_dense`` on the matrix of counts gives the
    estimate ``choix.ilsr_pairwise`` gives on the list of pairs, but costs
    O(sources²) per iteration instead of O(judgements), which matters for a
    million judgements. `tests/aggregation/test_release.py` checks the two agree.
    """
    sources = pd.Index(sorted({s for pair in counts for s in pair})).sort_values()
    if sources.empty:
        return pd.Series(dtype=float, index=sources, name="log_strength")
    matrix = np.zeros((len(sources), len(sources)))
    for (winner, loser), n in counts.items():
        matrix[sources.get_loc(winner), sources.get_loc(loser)] += n
    theta = choix.ilsr_pairwise_dense(matrix, alpha=alpha)
    return pd.Series(theta - theta.mean(), index=sources, name="log_strength")


def _agreement(counts: np.ndarray, *, levels: tuple[str, ...], domain=None) -> dict:
    """Agreement from a units × values count matrix (leading axes are units)."""
    counts = counts.reshape(-1, counts.shape[-1])
    per_unit = counts.sum(axis=1)
    result = {
        f"alpha_{level}": _number(
            metrics.krippendorff_alpha_from_counts(counts, level=level, value_domain=domain)
        )
        for level in levels
    }
    result["percent_agreement"] = _number(metrics.percent_agreement_from_counts(counts))
    result["units"] = int(np.count_nonzero(per_unit))
    result["judgements"] = int(per_unit.sum())
    return result


def _attribute_report(audience, people: AudiencePeople, min_cell_size: int) -> tuple[dict, dict]:
    """Counts, shares and spread of each attribute over the published values; suppressed
    participants count only as suppressed. Every allowed value is listed, found or not,
    so that the list itself tells nothing of who is in the audience."""
    coverage, diversity = {}, {}
    weights = pd.Series(people.weights, index=people.attributes.index)
    for attribute in audience.attribute_schema:
        name = attribute["name"]
        values = people.attributes[name] if name in people.attributes else pd.Series(dtype=object)
        targets = audience.target_marginals.get(name, {})
        choices = list(attribute["choices"])
        table = metrics.attribute_shares(
            values, targets={choice: 0.0 for choice in choices} | dict(targets)
        )
        table = table.reindex([*choices, *(v for v in table.index if v not in choices)])
        rows = []
        for value, row in table.iterrows():
            small = 0 < row["count"] < min_cell_size
            rows.append(
                {
                    "value": value,
                    "count": None if small else int(row["count"]),
                    "observed_share": None if small else _number(row["observed_share"]),
                    "target_share": _number(row["target_share"]) if targets else None,
                    "gap": None if small or not targets else _number(row["gap"]),
                    "suppressed": bool(small),
                }
            )
        entry = {"values": rows, "suppressed_participants": people.suppressed_participants}
        if targets:
            entry["largest_gap"] = _number(
                metrics.largest_absolute_gap(table["observed_share"], table["target_share"])
            )
            entry["total_variation_distance"] = _number(
                metrics.total_variation_distance(table["observed_share"], table["target_share"])
            )
            if people.weighted:
                weighted = metrics.attribute_shares(values, targets=targets, weights=weights)
                entry["weighted_total_variation_distance"] = _number(
                    metrics.total_variation_distance(
                        weighted["observed_share"], weighted["target_share"]
                    )
                )
        coverage[name] = entry
        diversity[name] = _number(
            metrics.normalized_entropy(values, allowed_values=attribute["choices"])
        )
    return coverage, diversity


def _coverage(tally: Tally, a: int, audience, people: AudiencePeople, attributes: dict) -> dict:
    at_k = metrics.items_at_k(
        pd.Series(tally.judgements[a], index=tally.item_ids), k=audience.overlap_k
    )
    load = tally.load[a]
    spread = metrics.participant_load(pd.Series(load[load > 0]))
    return {
        "overlap_k": audience.overlap_k,
        "items": at_k.items,
        "items_at_k": at_k.at_k,
        "share_at_k": _number(at_k.share_at_k),
        "responses": spread.responses,
        "responses_per_item_mean": _number(at_k.responses_mean),
        "responses_per_item_min": _number(at_k.responses_min),
        "participants": spread.participants,
        "responses_per_participant_gini": _number(spread.gini),
        "largest_participant_share": _number(spread.largest_share),
        "attributes": attributes,
        "weights": {
            "raked": people.weighted,
            "note": people.weighting_note,
            "kish_effective_sample_size": _number(
                metrics.kish_effective_sample_size(people.weights)
            ),
            "min": _number(people.weights.min()) if len(people.weights) else None,
            "max": _number(people.weights.max()) if len(people.weights) else None,
        },
    }


def metrics_document(
    tally: Tally, *, min_cell_size: int = 5, parts: frozenset[str] = METRIC_PARTS
) -> dict:
    """Every metric of a campaign (per audience, and between audiences) as plain JSON data.

    ``parts`` names the groups to compute (see `METRIC_PARTS`); a part left out
    is left out of the document, and the tally only needs what the parts read.
    """
    per_audience = {}
    for a, audience in enumerate(tally.audiences):
        people = tally.people[audience.id]
        report: dict = {"kind": audience.kind}
        attributes, entropy = _attribute_report(audience, people, min_cell_size)
        if "coverage" in parts:
            report["coverage"] = _coverage(tally, a, audience, people, attributes)
        if "diversity" in parts:
            report["diversity"] = {"attribute_entropy": entropy}
            if a in tally.texts:
                report["diversity"]["demonstrations"] = {
                    key: _number(value) for key, value in tally.texts[a].result().items()
                }
        report["privacy"] = {"suppressed_participants": people.suppressed_participants}
        per_audience[audience.slug] = report

    result: dict = {"items": len(tally.item_ids)}
    if "diversity" in parts:
        result["diversity"] = {
            "prompts": {key: _number(value) for key, value in tally.prompts.result().items()}
        }
    result["audiences"] = per_audience
    if tally.item_kind == "preference":
        if "agreement" in parts:
            _agreement_metrics(tally, result)
        if "pluralism" in parts:
            result["pluralism"] = _pluralism(tally)
    return result


def _agreement_metrics(tally: Tally, result: dict) -> None:
    votes = np.concatenate([tally.votes, tally.ties[:, :, None]], axis=2)
    for a, audience in enumerate(tally.audiences):
        agreement = {}
        if tally.preference_format == "choice" and votes[a].any():
            agreement["choice"] = _agreement(votes[a], levels=("nominal",))
        if tally.ranks is not None and tally.ranks[a].any():
            agreement["ranking"] = _agreement(tally.ranks[a], levels=("ordinal",))
        if tally.ratings is not None and tally.ratings[a].any():
            low, high = tally.rating_scale
            agreement["ratings"] = _agreement(
                tally.ratings[a], levels=("interval", "ordinal"), domain=range(low, high + 1)
            )
        result["audiences"][audience.slug]["agreement"] = agreement


def _pluralism(tally: Tally) -> dict:
    pluralism: dict = {}
    slug = [audience.slug for audience in tally.audiences]
    seen = tally.votes.sum(axis=2, dtype=np.int64) + tally.ties  # audiences × items
    present = [a for a in range(len(tally.audiences)) if seen[a].any()]
    if present:
        width = max(tally.votes.shape[2], int(tally.n_candidates.max(initial=0)))
        votes = np.zeros((len(tally.audiences), len(tally.item_ids), width), dtype=np.int64)
        votes[:, :, : tally.votes.shape[2]] = tally.votes
        shares = [metrics.vote_shares(votes[a], tally.ties[a], tally.n_candidates) for a in present]
        pluralism["divergence"] = []
        for (i, a), (j, b) in combinations(enumerate(present), 2):
            shared = np.flatnonzero((seen[a] > 0) & (seen[b] > 0))
            jsd = metrics.jensen_shannon(shares[i][shared], shares[j][shared])
            top = np.argsort(-jsd, kind="stable")[:TOP_ITEMS]
            pluralism["divergence"].append(
                {
                    "audience_a": slug[a],
                    "audience_b": slug[b],
                    "shared_items": len(shared),
                    "mean_jsd": _number(jsd.mean()) if len(jsd) else None,
                    "most_divergent_items": [
                        {
                            "item_id": int(tally.item_ids[shared[k]]),
                            "external_id": tally.external_id(int(shared[k])),
                            "jsd": _number(jsd[k]),
                        }
                        for k in top
                    ],
                }
            )
        pluralism["consensus"] = _consensus(tally, votes, seen, present)
    strengths = {}
    for a, audience in enumerate(tally.audiences):
        counts = {
            (winner, loser): n
            for (position, winner, loser), n in tally.source_pairs.items()
            if position == a
        }
        fitted = bradley_terry_from_counts(counts)
        if len(fitted):
            strengths[audience.slug] = fitted
    pluralism["bradley_terry"] = {
        name: {source: _number(value) for source, value in series.items()}
        for name, series in strengths.items()
    }
    pluralism["kendall_tau"] = [
        {"audience_a": a, "audience_b": b, "tau": _number(metrics.kendall_tau(sa, sb))}
        for (a, sa), (b, sb) in combinations(strengths.items(), 2)
    ]
    return pluralism


def _consensus(tally: Tally, votes: np.ndarray, seen: np.ndarray, present: list[int]) -> dict:
    """Group-aware consensus of each candidate; the items all audiences agree on most."""
    audiences = [tally.audiences[a].slug for a in present]
    if len(present) < 2:
        return {"audiences": audiences, "top_items": []}
    voted = np.flatnonzero(seen[present].sum(axis=0) > 0)
    n = tally.n_candidates[voted]
    most = int(n.max(initial=0))
    agree = votes[present][:, voted, :most].transpose(1, 2, 0)  # items × positions × audiences
    total = np.repeat(seen[present][:, voted].T[:, None, :], most, axis=1)
    score = metrics.group_aware_consensus_from_counts(agree, total)
    listed = np.arange(most) < n[:, None]
    item_pos, position = np.nonzero(listed)
    values = score[item_pos, position]
    item_ids = tally.item_ids[voted][item_pos]
    order = np.lexsort((position, item_ids, -values))[:TOP_ITEMS]
    best = np.where(listed, score, -np.inf).max(axis=1)
    return {
        "audiences": audiences,
        "mean_best_candidate": _number(best.mean()) if len(best) else None,
        "top_items": [
            {
                "item_id": int(item_ids[k]),
                "external_id": tally.external_id(int(voted[item_pos[k]])),
                "candidate": tally.candidate_id(int(voted[item_pos[k]]), int(position[k])),
                "consensus": _number(values[k]),
            }
            for k in order
        ],
    }


def rake(sample: pd.DataFrame, targets: dict) -> tuple[np.ndarray, str]:
    """Raking weights (mean 1) with a note when they could not be fitted."""
    if sample.empty:
        return np.ones(0), ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            weights = metrics.rake_weights(sample, targets=targets)
        except ValueError as error:
            return np.ones(len(sample)), f"not raked: {error}"
    note = "; ".join(str(warning.message) for warning in caught)
    return weights.to_numpy(dtype=float), note
