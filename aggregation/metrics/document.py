"""metrics.json's ``metrics``: every metric of a campaign, computed from its counts.

A release (and the dashboard, through `aggregation.release.pipeline.campaign_metrics`)
counts a campaign once, chunk by chunk, into a tally (`aggregation.release.tally.Tally`:
per audience and item the judgements, votes per candidate, ties, ratings and places; per
participant the judgements; decided pairs by source; distinct words). This module turns
those counts into the document, through the same functions of this package that take one
row per judgement (each ``*_from_counts`` gives what its frame-based twin gives, which
`tests/aggregation/test_release_metrics.py` checks on a release). No ORM, no Arrow: only
the tally's arrays and its audiences' schemas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import numpy as np
import pandas as pd

from aggregation.metrics.agreement import (
    MIN_PAIRABLE_UNITS,
    alpha_estimates_from_counts,
    percent_agreement_from_counts,
)
from aggregation.metrics.bootstrap import (
    ALPHA_ROUNDS,
    BRADLEY_TERRY_ROUNDS,
    bradley_terry_bootstrap,
)
from aggregation.metrics.coverage import (
    attribute_shares,
    items_at_k,
    largest_absolute_gap,
    participant_load,
    total_variation_distance,
)
from aggregation.metrics.diversity import normalized_entropy
from aggregation.metrics.pluralism import (
    bradley_terry_from_counts,
    group_aware_consensus_from_counts,
    jensen_shannon,
    kendall_tau,
    vote_shares,
)
from aggregation.metrics.weights import kish_effective_sample_size

TOP_ITEMS = 10
METRIC_PARTS = frozenset({"coverage", "diversity", "agreement", "pluralism"})


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _agreement(
    counts: np.ndarray,
    *,
    levels: tuple[str, ...],
    domain=None,
    seed: list[int],
    min_pairable_units: int,
) -> dict:
    """Agreement from a units × values count matrix (leading axes are units): α at each
    level with its 95% bootstrap interval, what it rests on, and whether that is too
    little to show it (`AlphaEstimate.too_few`)."""
    counts = counts.reshape(-1, counts.shape[-1])
    per_unit = counts.sum(axis=1)
    estimates = alpha_estimates_from_counts(
        counts,
        levels=levels,
        value_domain=domain,
        rounds=ALPHA_ROUNDS,
        seed=seed,
        min_pairable_units=min_pairable_units,
    )
    result: dict = {}
    for level, estimate in estimates.items():
        result[f"alpha_{level}"] = _number(estimate.alpha)
        result[f"alpha_{level}_ci95"] = (
            [_number(estimate.ci_low), _number(estimate.ci_high)] if estimate.rounds else None
        )
    result["percent_agreement"] = _number(percent_agreement_from_counts(counts))
    result["units"] = int(np.count_nonzero(per_unit))
    result["judgements"] = int(per_unit.sum())
    first = estimates[levels[0]]
    result["pairable_units"] = first.pairable_units
    result["pairable_values"] = first.pairable_values
    result["min_pairable_units"] = min_pairable_units
    result["too_few_overlapping_judgements"] = first.too_few
    result["bootstrap_rounds"] = max(estimate.rounds for estimate in estimates.values())
    return result


def _lexical(counter) -> dict:
    """distinct-1 and distinct-2, and the words they are shares of."""
    result = {key: _number(value) for key, value in counter.result().items()}
    return {**result, "words": counter.words}


def _attribute_report(audience, people, min_cell_size: int) -> tuple[dict, dict]:
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
        table = attribute_shares(
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
                largest_absolute_gap(table["observed_share"], table["target_share"])
            )
            entry["total_variation_distance"] = _number(
                total_variation_distance(table["observed_share"], table["target_share"])
            )
            if people.weighted:
                weighted = attribute_shares(values, targets=targets, weights=weights)
                entry["weighted_total_variation_distance"] = _number(
                    total_variation_distance(weighted["observed_share"], weighted["target_share"])
                )
        coverage[name] = entry
        diversity[name] = _number(normalized_entropy(values, allowed_values=attribute["choices"]))
    return coverage, diversity


def _coverage(tally, a: int, audience, people, attributes: dict) -> dict:
    at_k = items_at_k(pd.Series(tally.judgements[a], index=tally.item_ids), k=audience.overlap_k)
    load = tally.load[a]
    spread = participant_load(pd.Series(load[load > 0]))
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
            "kish_effective_sample_size": _number(kish_effective_sample_size(people.weights)),
            "min": _number(people.weights.min()) if len(people.weights) else None,
            "max": _number(people.weights.max()) if len(people.weights) else None,
        },
    }


# What an item kind adds to the document (agreement, pluralism): given the tally, the
# document so far (to fill in), the parts asked for, the seed and the α threshold.
KindMetrics = Callable[..., None]


def metrics_document(
    tally,
    *,
    min_cell_size: int = 5,
    parts: frozenset[str] = METRIC_PARTS,
    seed: int = 0,
    min_pairable_units: int = MIN_PAIRABLE_UNITS,
    kind_metrics: KindMetrics | None = None,
) -> dict:
    """Every metric of a campaign (per audience, and between audiences) as plain JSON data.

    ``parts`` names the groups to compute (see `METRIC_PARTS`); a part left out
    is left out of the document, and the tally only needs what the parts read.
    ``kind_metrics`` adds what the campaign's item kind measures (one of the
    ``*_kind_metrics`` below, declared by the kind in `aggregation.release.kinds`).
    ``seed`` seeds the bootstrap intervals (each α and each audience's
    Bradley–Terry fit draws from its own stream, keyed by the audience's id,
    so an audience's intervals do not depend on which others are included);
    ``min_pairable_units`` marks α resting on fewer units judged twice as too few.
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
                report["diversity"]["demonstrations"] = _lexical(tally.texts[a])
        report["privacy"] = {"suppressed_participants": people.suppressed_participants}
        per_audience[audience.slug] = report

    result: dict = {"items": len(tally.item_ids)}
    if "diversity" in parts:
        result["diversity"] = {"prompts": _lexical(tally.prompts)}
    result["audiences"] = per_audience
    if kind_metrics is not None:
        kind_metrics(tally, result, parts=parts, seed=seed, min_pairable_units=min_pairable_units)
    return result


def preference_kind_metrics(
    tally, result: dict, *, parts: frozenset[str], seed: int, min_pairable_units: int
) -> None:
    """Preferences: α per judgement type, and pluralism over the candidates' votes."""
    if "agreement" in parts:
        _agreement_metrics(tally, result, seed=seed, min_pairable_units=min_pairable_units)
    if "pluralism" in parts:
        result["pluralism"] = _pluralism(tally, seed=seed)


def rating_kind_metrics(
    tally, result: dict, *, parts: frozenset[str], seed: int, min_pairable_units: int
) -> None:
    """Single-response ratings: α per rubric attribute, and divergence between audiences."""
    if "agreement" in parts:
        _rating_agreement(tally, result, seed=seed, min_pairable_units=min_pairable_units)
    if "pluralism" in parts:
        result["pluralism"] = {"divergence": _rating_divergence(tally)}


def conversation_kind_metrics(
    tally, result: dict, *, parts: frozenset[str], seed: int, min_pairable_units: int
) -> None:
    """Conversations: the endpoints' strengths from the judged turns."""
    if "pluralism" in parts:
        # Judged turns are pairs of endpoints' replies, not votes over an item's candidates.
        result["pluralism"] = _strengths(tally, seed=seed)


def _rating_divergence(tally) -> list[dict]:
    """Single-response ratings: per rubric attribute and pair of audiences, the
    Jensen–Shannon divergence between their distributions of scores for the same
    response (Lin 1991; `jensen_shannon`), averaged over the items both rated, with
    how many that is and the most divergent items."""
    entries: list[dict] = []
    if tally.ratings is None:
        return entries
    slug = [audience.slug for audience in tally.audiences]
    for k, name in enumerate(tally.rubric[: tally.ratings.shape[2]]):
        counts = tally.ratings[:, :, k, :].astype(np.float64)  # audiences × items × values
        seen = counts.sum(axis=2)
        for a, b in combinations(range(len(tally.audiences)), 2):
            shared = np.flatnonzero((seen[a] > 0) & (seen[b] > 0))
            if not len(shared):
                continue
            jsd = jensen_shannon(
                counts[a, shared] / seen[a, shared, None], counts[b, shared] / seen[b, shared, None]
            )
            top = np.argsort(-jsd, kind="stable")[:TOP_ITEMS]
            entries.append(
                {
                    "attribute": name,
                    "audience_a": slug[a],
                    "audience_b": slug[b],
                    "shared_items": len(shared),
                    "mean_jsd": _number(jsd.mean()),
                    "most_divergent_items": [
                        {
                            "item_id": int(tally.item_ids[shared[i]]),
                            "external_id": tally.external_id(int(shared[i])),
                            "jsd": _number(jsd[i]),
                        }
                        for i in top
                    ],
                }
            )
    return entries


# Which stream of the seed each statistic draws from (with the audience's id; a rubric
# attribute's α adds its position).
STREAMS = {"choice": 1, "ranking": 2, "ratings": 3, "bradley_terry": 4, "rubric": 5}


def _rating_agreement(tally, result: dict, *, seed: int, min_pairable_units: int) -> None:
    """Single-response ratings: α per rubric attribute, the rated responses as units, at
    the interval and ordinal levels (the steps of a Likert scale may not be equal)."""
    low, high = tally.rating_scale
    for a, audience in enumerate(tally.audiences):
        agreement = {}
        for k, name in enumerate(tally.rubric):
            if tally.ratings is not None and k < tally.ratings.shape[2]:
                counts = tally.ratings[a][:, k]
                if counts.any():
                    agreement[name] = _agreement(
                        counts,
                        levels=("interval", "ordinal"),
                        domain=range(low, high + 1),
                        seed=[seed, audience.id, STREAMS["rubric"], k],
                        min_pairable_units=min_pairable_units,
                    )
        result["audiences"][audience.slug]["agreement"] = agreement


def _agreement_metrics(tally, result: dict, *, seed: int, min_pairable_units: int) -> None:
    votes = np.concatenate([tally.votes, tally.ties[:, :, None]], axis=2)
    for a, audience in enumerate(tally.audiences):
        found = []  # (judgement, units × values counts, levels, value domain)
        if tally.preference_format == "choice" and votes[a].any():
            found.append(("choice", votes[a], ("nominal",), None))
        if tally.ranks is not None and tally.ranks[a].any():
            found.append(("ranking", tally.ranks[a], ("ordinal",), None))
        if tally.ratings is not None and tally.ratings[a].any():
            low, high = tally.rating_scale
            scale = range(low, high + 1)
            found.append(("ratings", tally.ratings[a], ("interval", "ordinal"), scale))
        result["audiences"][audience.slug]["agreement"] = {
            judgement: _agreement(
                counts,
                levels=levels,
                domain=domain,
                seed=[seed, audience.id, STREAMS[judgement]],
                min_pairable_units=min_pairable_units,
            )
            for judgement, counts, levels, domain in found
        }


def _pluralism(tally, *, seed: int) -> dict:
    pluralism: dict = {}
    slug = [audience.slug for audience in tally.audiences]
    seen = tally.votes.sum(axis=2, dtype=np.int64) + tally.ties  # audiences × items
    present = [a for a in range(len(tally.audiences)) if seen[a].any()]
    if present:
        width = max(tally.votes.shape[2], int(tally.n_candidates.max(initial=0)))
        votes = np.zeros((len(tally.audiences), len(tally.item_ids), width), dtype=np.int64)
        votes[:, :, : tally.votes.shape[2]] = tally.votes
        shares = [vote_shares(votes[a], tally.ties[a], tally.n_candidates) for a in present]
        pluralism["divergence"] = []
        for (i, a), (j, b) in combinations(enumerate(present), 2):
            shared = np.flatnonzero((seen[a] > 0) & (seen[b] > 0))
            jsd = jensen_shannon(shares[i][shared], shares[j][shared])
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
    return pluralism | _strengths(tally, seed=seed)


def _strengths(tally, *, seed: int) -> dict:
    """Bradley–Terry strengths of the sources (candidates' models, or a conversation
    campaign's endpoints) per audience, and Kendall's τ between audiences' orderings."""
    pluralism: dict = {}
    strengths, intervals, support = {}, {}, {}
    for a, audience in enumerate(tally.audiences):
        counts = {
            (winner, loser): n
            for (position, winner, loser), n in tally.source_pairs.items()
            if position == a
        }
        fitted = bradley_terry_from_counts(counts)
        if len(fitted):
            strengths[audience.slug] = fitted
            rng = np.random.default_rng([seed, audience.id, STREAMS["bradley_terry"]])
            intervals[audience.slug] = bradley_terry_bootstrap(counts, rng=rng)
            support[audience.slug] = {
                "decided_pairs": int(sum(counts.values())),
                "sources": len(fitted),
                "bootstrap_rounds": BRADLEY_TERRY_ROUNDS,
            }
    pluralism["bradley_terry"] = {
        name: {source: _number(value) for source, value in series.items()}
        for name, series in strengths.items()
    }
    # 95% percentile intervals over 100 resampled rounds (Chatbot Arena's way), and
    # the decided pairs each audience's fit rests on.
    pluralism["bradley_terry_ci95"] = {
        name: {
            source: [_number(row["lower"]), _number(row["upper"])]
            for source, row in table.iterrows()
        }
        for name, table in intervals.items()
    }
    pluralism["bradley_terry_support"] = support
    pluralism["kendall_tau"] = [
        {
            "audience_a": a,
            "audience_b": b,
            "tau": _number(kendall_tau(sa, sb)),
            "shared_sources": len(sa.dropna().index.intersection(sb.dropna().index)),
        }
        for (a, sa), (b, sb) in combinations(strengths.items(), 2)
    ]
    return pluralism


def _consensus(tally, votes: np.ndarray, seen: np.ndarray, present: list[int]) -> dict:
    """Group-aware consensus of each candidate; the items all audiences agree on most."""
    audiences = [tally.audiences[a].slug for a in present]
    if len(present) < 2:
        return {"audiences": audiences, "top_items": []}
    voted = np.flatnonzero(seen[present].sum(axis=0) > 0)
    n = tally.n_candidates[voted]
    most = int(n.max(initial=0))
    agree = votes[present][:, voted, :most].transpose(1, 2, 0)  # items × positions × audiences
    total = np.repeat(seen[present][:, voted].T[:, None, :], most, axis=1)
    score = group_aware_consensus_from_counts(agree, total)
    listed = np.arange(most) < n[:, None]
    item_pos, position = np.nonzero(listed)
    values = score[item_pos, position]
    item_ids = tally.item_ids[voted][item_pos]
    order = np.lexsort((position, item_ids, -values))[:TOP_ITEMS]
    best = np.where(listed, score, -np.inf).max(axis=1)
    votes_on = seen[present][:, voted].sum(axis=0)  # per voted item, over the audiences
    return {
        "audiences": audiences,
        "items": len(voted),
        "mean_best_candidate": _number(best.mean()) if len(best) else None,
        "top_items": [
            {
                "item_id": int(item_ids[k]),
                "external_id": tally.external_id(int(voted[item_pos[k]])),
                "candidate": tally.candidate_id(int(voted[item_pos[k]]), int(position[k])),
                "consensus": _number(values[k]),
                "votes": int(votes_on[item_pos[k]]),
            }
            for k in order
        ],
    }
