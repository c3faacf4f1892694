"""Compact frames for the metrics, gathered while the release files are written.

Metrics need every judgement, but never its text: the collector keeps item,
audience and participant ids and small codes (a few bytes per judgement),
and the pair counts Bradley–Terry needs. `campaign_metrics_from_frames`
then feeds pandas frames to the pure functions in `aggregation.metrics`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import defaultdict
from itertools import combinations

import choix
import numpy as np
import pandas as pd

from aggregation import metrics
from aggregation.exporters.tables import TIE_VOTE, Items

TOP_ITEMS = 10


@dataclasses.dataclass
class AudiencePeople:
    """One audience's participants: attribute values (None where not given) and weights."""

    ids: np.ndarray
    attributes: pd.DataFrame  # one row per participant, one column per attribute
    weights: np.ndarray
    weighted: bool
    weighting_note: str = ""
    suppressed_cells: int = 0
    suppressed_participants: int = 0


@dataclasses.dataclass
class Frames:
    item_kind: str
    preference_format: str
    rating_scale: tuple[int, int] | None
    audiences: list  # selectors.AudienceInfo
    people: dict[int, AudiencePeople]
    item_ids: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    external_ids: dict[int, str] = dataclasses.field(default_factory=dict)
    candidates_per_item: dict[int, int] = dataclasses.field(default_factory=dict)
    candidate_ids: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    prompts: list[str] = dataclasses.field(default_factory=list)
    texts: dict[int, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    _responses: list = dataclasses.field(default_factory=list)
    _votes: list = dataclasses.field(default_factory=list)
    _ratings: list = dataclasses.field(default_factory=list)
    _ranks: list = dataclasses.field(default_factory=list)
    # (audience id, winner source, loser source) -> decided pairs
    source_pairs: dict = dataclasses.field(default_factory=lambda: defaultdict(int))

    def add_items(self, items: Items, chunk) -> None:
        self.prompts.extend(chunk.prompts)
        counts = np.diff(items.candidate_offsets)
        for item_id, external_id, n, ids in zip(
            items.ids.tolist(),
            chunk.external_ids,
            counts.tolist(),
            items.candidate_lists,
            strict=True,
        ):
            self.external_ids[item_id] = external_id
            if n:
                self.candidates_per_item[item_id] = n
                self.candidate_ids[item_id] = ids

    def add_responses(self, audience_id: int, item_ids: np.ndarray, people: np.ndarray) -> None:
        self._responses.append((audience_id, item_ids.astype(np.int64), people.astype(np.int64)))

    def add_votes(self, audience_id: int, item_ids, people, votes: np.ndarray) -> None:
        self._votes.append((audience_id, item_ids, people, votes.astype(np.int16)))

    def add_ratings(self, audience_id: int, item_ids, candidates, people, values) -> None:
        self._ratings.append((audience_id, item_ids, candidates, people, values))

    def add_ranks(self, audience_id: int, item_ids, candidates, people, ranks) -> None:
        self._ranks.append((audience_id, item_ids, candidates, people, ranks))

    def add_source_pairs(self, audience_id: int, counts: dict) -> None:
        """Decided pairs by (winner source, loser source); as `metrics.bradley_terry`,
        pairs with a missing source or the same source on both sides are dropped."""
        for (winner, loser), n in counts.items():
            if winner is not None and loser is not None and winner != loser:
                self.source_pairs[(audience_id, winner, loser)] += n

    @staticmethod
    def _frame(parts: list, columns: list[str]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame({name: pd.Series(dtype=np.int64) for name in columns})
        data = {columns[0]: np.concatenate([np.full(len(p[1]), p[0]) for p in parts])}
        for i, name in enumerate(columns[1:], start=1):
            data[name] = np.concatenate([np.asarray(p[i]) for p in parts])
        return pd.DataFrame(data)

    def responses(self) -> pd.DataFrame:
        return self._frame(self._responses, ["audience_id", "item_id", "participant_id"])

    def votes(self) -> pd.DataFrame:
        return self._frame(self._votes, ["audience_id", "item_id", "participant_id", "vote"])

    def ratings(self) -> pd.DataFrame:
        return self._frame(
            self._ratings, ["audience_id", "item_id", "candidate", "participant_id", "value"]
        )

    def ranks(self) -> pd.DataFrame:
        return self._frame(
            self._ranks, ["audience_id", "item_id", "candidate", "participant_id", "value"]
        )


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
    million judgements. `tests/aggregation/test_release_metrics.py` checks the two
    agree.
    """
    sources = pd.Index(sorted({s for pair in counts for s in pair})).sort_values()
    if sources.empty:
        return pd.Series(dtype=float, index=sources, name="log_strength")
    matrix = np.zeros((len(sources), len(sources)))
    for (winner, loser), n in counts.items():
        matrix[sources.get_loc(winner), sources.get_loc(loser)] += n
    theta = choix.ilsr_pairwise_dense(matrix, alpha=alpha)
    return pd.Series(theta - theta.mean(), index=sources, name="log_strength")


def _agreement(long: pd.DataFrame, *, levels: tuple[str, ...]) -> dict:
    if long.empty:
        return {}
    data = long.rename(columns={"participant_id": "rater_id"})
    result = {
        f"alpha_{level}": _number(metrics.krippendorff_alpha(data, level=level)) for level in levels
    }
    result["percent_agreement"] = _number(metrics.percent_agreement(data))
    result["units"] = int(data["unit_id"].nunique())
    result["judgements"] = len(data)
    return result


def _attribute_report(audience, people: AudiencePeople, min_cell_size: int) -> tuple[dict, dict]:
    coverage, diversity = {}, {}
    weights = pd.Series(people.weights, index=people.attributes.index)
    for attribute in audience.attribute_schema:
        name = attribute["name"]
        values = people.attributes[name] if name in people.attributes else pd.Series(dtype=object)
        targets = audience.target_marginals.get(name, {})
        table = metrics.attribute_shares(values, targets=targets)
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
        entry = {"values": rows}
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


def campaign_metrics_from_frames(frames: Frames, *, min_cell_size: int = 5) -> dict:
    """Every metric of a campaign (per audience, and between audiences) as plain JSON data."""
    responses = frames.responses()
    slug = {audience.id: audience.slug for audience in frames.audiences}
    per_audience = {}
    for audience in frames.audiences:
        mine = responses[responses["audience_id"] == audience.id]
        people = frames.people[audience.id]
        at_k = metrics.items_at_k(
            mine["item_id"].value_counts(), k=audience.overlap_k, item_ids=frames.item_ids
        )
        load = metrics.participant_load(mine["participant_id"].value_counts())
        attributes, entropy = _attribute_report(audience, people, min_cell_size)
        report = {
            "kind": audience.kind,
            "coverage": {
                "overlap_k": audience.overlap_k,
                "items": at_k.items,
                "items_at_k": at_k.at_k,
                "share_at_k": _number(at_k.share_at_k),
                "responses": load.responses,
                "responses_per_item_mean": _number(at_k.responses_mean),
                "responses_per_item_min": _number(at_k.responses_min),
                "participants": load.participants,
                "responses_per_participant_gini": _number(load.gini),
                "largest_participant_share": _number(load.largest_share),
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
            },
            "diversity": {"attribute_entropy": entropy},
            "privacy": {
                "suppressed_cells": people.suppressed_cells,
                "suppressed_participants": people.suppressed_participants,
            },
        }
        if frames.texts.get(audience.id):
            report["diversity"]["demonstrations"] = {
                key: _number(value)
                for key, value in metrics.lexical_diversity(frames.texts[audience.id]).items()
            }
        per_audience[audience.slug] = report

    result = {
        "items": len(frames.item_ids),
        "diversity": {
            "prompts": {
                key: _number(value)
                for key, value in metrics.lexical_diversity(frames.prompts).items()
            }
        },
        "audiences": per_audience,
    }
    if frames.item_kind == "preference":
        _preference_metrics(frames, result, slug)
    return result


def _preference_metrics(frames: Frames, result: dict, slug: dict[int, str]) -> None:
    votes = frames.votes()
    votes["unit_id"] = votes["item_id"]
    ratings, ranks = frames.ratings(), frames.ranks()
    for audience in frames.audiences:
        agreement = {}
        mine = votes[votes["audience_id"] == audience.id]
        if frames.preference_format == "choice" and not mine.empty:
            agreement["choice"] = _agreement(
                mine[["unit_id", "participant_id"]].assign(value=mine["vote"]),
                levels=("nominal",),
            )
        for name, long, levels in (
            ("ranking", ranks, ("ordinal",)),
            ("ratings", ratings, ("interval", "ordinal")),
        ):
            part = long[long["audience_id"] == audience.id]
            if part.empty:
                continue
            n_max = int(part["candidate"].max()) + 1
            unit = part["item_id"] * n_max + part["candidate"]
            agreement[name] = _agreement(
                pd.DataFrame(
                    {
                        "unit_id": unit,
                        "participant_id": part["participant_id"],
                        "value": part["value"],
                    }
                ),
                levels=levels,
            )
        result["audiences"][audience.slug]["agreement"] = agreement

    pluralism: dict = {}
    if not votes.empty:
        counts = set(frames.candidates_per_item.values())
        candidates = (
            list(range(counts.pop()))
            if len(counts) == 1
            else {item: list(range(n)) for item, n in frames.candidates_per_item.items()}
        )
        distribution = metrics.vote_distribution(
            votes.rename(columns={"audience_id": "audience", "vote": "choice"}),
            candidates=candidates,
            tie=TIE_VOTE,
        )
        pluralism["divergence"] = []
        present = [a.id for a in frames.audiences if (votes["audience_id"] == a.id).any()]
        for a, b in combinations(present, 2):
            found = metrics.audience_divergence(distribution, audience_a=a, audience_b=b)
            pluralism["divergence"].append(
                {
                    "audience_a": slug[a],
                    "audience_b": slug[b],
                    "shared_items": found.items,
                    "mean_jsd": _number(found.mean),
                    "most_divergent_items": [
                        {
                            "item_id": int(item),
                            "external_id": frames.external_ids.get(int(item)),
                            "jsd": _number(value),
                        }
                        for item, value in found.top.items()
                    ],
                }
            )
        pluralism["consensus"] = _consensus(frames, votes, present, slug)
    strengths = {}
    for audience in frames.audiences:
        counts = {
            (winner, loser): n
            for (audience_id, winner, loser), n in frames.source_pairs.items()
            if audience_id == audience.id
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
    result["pluralism"] = pluralism


def _consensus(frames: Frames, votes: pd.DataFrame, present: list[int], slug) -> dict:
    """Group-aware consensus of each candidate; the items all audiences agree on most."""
    if len(present) < 2:
        return {"audiences": [slug[a] for a in present], "top_items": []}
    scored = []
    most = max(frames.candidates_per_item.values(), default=0)
    frame = votes.rename(columns={"audience_id": "audience", "vote": "choice"})
    for position in range(most):
        mapping = {item: position for item, n in frames.candidates_per_item.items() if n > position}
        score = metrics.group_aware_consensus(frame, candidate=mapping, audiences=present)
        scored.append(pd.DataFrame({"item_id": score.index, "position": position, "score": score}))
    table = pd.concat(scored, ignore_index=True).sort_values(
        ["score", "item_id", "position"], ascending=[False, True, True], kind="stable"
    )
    top = table.head(TOP_ITEMS)
    return {
        "audiences": [slug[a] for a in present],
        "mean_best_candidate": _number(table.groupby("item_id")["score"].max().mean()),
        "top_items": [
            {
                "item_id": int(row.item_id),
                "external_id": frames.external_ids.get(int(row.item_id)),
                "candidate": frames.candidate_ids[int(row.item_id)][int(row.position)],
                "consensus": _number(row.score),
            }
            for row in top.itertuples()
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
