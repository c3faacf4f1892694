"""Coverage: how fully items and strata are covered, and how evenly the work is spread."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

Shares = pd.Series | Mapping[Hashable, float]


def _as_series(values: Shares) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.astype(float)
    return pd.Series(dict(values), dtype=float)


@dataclass(frozen=True)
class ItemsAtK:
    items: int
    at_k: int
    share_at_k: float
    responses_mean: float
    responses_min: float


def items_at_k(
    responses_per_item: Shares,
    *,
    k: int,
    item_ids: Iterable[Hashable] | None = None,
) -> ItemsAtK:
    """Count the items that reached k responses, and the mean and minimum responses per item.

    `responses_per_item` maps item id to its number of responses (for instance
    `responses.item_id.value_counts()`). Items that never got a response are
    absent from such counts, so pass the campaign's `item_ids` to count them
    as zero; counts for ids outside `item_ids` are then ignored.

    With no items, `share_at_k`, `responses_mean` and `responses_min` are NaN.
    "Items at k" is the campaign's fill target (docs/architecture.md, "The words": k).
    """
    counts = _as_series(responses_per_item)
    if item_ids is not None:
        counts = counts.reindex(pd.Index(list(item_ids)).unique(), fill_value=0.0)
    n_items = len(counts)
    at_k = int((counts >= k).sum())
    if n_items == 0:
        return ItemsAtK(0, 0, float("nan"), float("nan"), float("nan"))
    return ItemsAtK(
        items=n_items,
        at_k=at_k,
        share_at_k=at_k / n_items,
        responses_mean=float(counts.mean()),
        responses_min=float(counts.min()),
    )


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, (n − 1)/n at most.

    G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄), computed in its sorted closed form
    G = 2 Σᵢ i·x₍ᵢ₎ / (n Σ x) − (n + 1)/n (Gini 1912; see Damgaard & Weiner,
    "Describing inequality in plant size or fecundity", Ecology 81, 2000,
    eq. 1). No small-sample correction n/(n − 1) is applied. NaN when there
    are no values or they sum to zero.
    """
    x = np.sort(np.asarray(list(values), dtype=float))
    if (x < 0).any():
        raise ValueError("Gini coefficient needs non-negative values")
    n = x.size
    if n == 0 or x.sum() == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2 * (ranks * x).sum() / (n * x.sum()) - (n + 1) / n)


@dataclass(frozen=True)
class ParticipantLoad:
    participants: int
    responses: int
    gini: float
    largest_share: float


def participant_load(responses_per_participant: Shares) -> ParticipantLoad:
    """How evenly responses are spread over participants.

    `responses_per_participant` maps participant id to their number of
    responses (e.g. `responses.participant_id.value_counts()`). Returns the
    number of participants, the total responses, the Gini coefficient of
    responses per participant (see `gini`) and the largest share: the most
    active participant's responses divided by all responses, so 0.5 means one
    person wrote half the data. Shares are NaN when there are no responses.
    """
    counts = _as_series(responses_per_participant)
    total = float(counts.sum())
    return ParticipantLoad(
        participants=len(counts),
        responses=int(total),
        gini=gini(counts),
        largest_share=float(counts.max() / total) if total > 0 else float("nan"),
    )


def _shares(values: Shares) -> pd.Series:
    series = _as_series(values)
    if (series < 0).any():
        raise ValueError("shares must be non-negative")
    total = series.sum()
    return series / total if total > 0 else series * np.nan


def attribute_shares(
    values: pd.Series,
    *,
    targets: Mapping[Hashable, float],
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Observed share of each attribute value next to its target share.

    `values` holds one attribute value per participant (missing values are
    left out); `targets` maps each value to its target share (normalised to
    sum to 1, so census counts work too). Pass `weights` (aligned with
    `values`, e.g. from `rake_weights`) to see the weighted shares instead.

    Returns one row per value found in either side, indexed by value, with
    `count` (participants), `observed_share`, `target_share` (0 for values
    without a target) and `gap` = observed − target. Feed the two share
    columns to `largest_absolute_gap` and `total_variation_distance`.
    """
    known = values.notna()
    w = pd.Series(1.0, index=values.index) if weights is None else weights.astype(float)
    counts = values[known].value_counts()
    weighted = w[known].groupby(values[known]).sum()
    index = counts.index.union(pd.Index(list(targets)), sort=False)
    table = pd.DataFrame(
        {
            "count": counts.reindex(index, fill_value=0).astype(int),
            "observed_share": _shares(weighted.reindex(index, fill_value=0.0)),
            "target_share": _shares(pd.Series(dict(targets), dtype=float)).reindex(
                index, fill_value=0.0
            ),
        }
    )
    table["gap"] = table["observed_share"] - table["target_share"]
    return table


def _aligned(p: Shares, q: Shares) -> tuple[pd.Series, pd.Series]:
    p, q = _shares(p), _shares(q)
    index = p.index.union(q.index, sort=False)
    return p.reindex(index, fill_value=0.0), q.reindex(index, fill_value=0.0)


def largest_absolute_gap(observed: Shares, target: Shares) -> float:
    """max over values v of |p(v) − q(v)|: the worst-covered (or over-covered) stratum.

    Both sides are normalised to sum to 1; a value missing on one side counts
    as share 0 there. NaN when there are no values.
    """
    p, q = _aligned(observed, target)
    return float((p - q).abs().max()) if len(p) else float("nan")


def total_variation_distance(observed: Shares, target: Shares) -> float:
    """Total variation distance ½ Σᵥ |p(v) − q(v)| between two distributions, in [0, 1].

    The share of the sample that would have to move between strata to match
    the target (Levin, Peres & Wilmer, "Markov Chains and Mixing Times",
    2nd ed., Proposition 4.2). Both sides are normalised to sum to 1; a value
    missing on one side counts as share 0 there. NaN when there are no values.
    """
    p, q = _aligned(observed, target)
    return float((p - q).abs().sum() / 2) if len(p) else float("nan")
