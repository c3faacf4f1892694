"""Post-stratification weights by raking, and the effective sample size they leave."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd


def rake_weights(
    sample: pd.DataFrame,
    *,
    targets: Mapping[str, Mapping[Hashable, float]],
    tol: float = 1e-6,
    max_iter: int = 100,
) -> pd.Series:
    """Raking weights that make the sample's attribute shares match the target shares.

    Iterative proportional fitting (Deming & Stephan, "On a least squares
    adjustment of a sampled frequency table when the expected marginal totals
    are known", Ann. Math. Statist. 11, 1940; Kolenikov, "Calibrating survey
    data using iterative proportional fitting (raking)", Stata Journal 14,
    2014): for each attribute in turn, multiply the weight of every row with
    value v by target(v) / weighted share(v); repeat until every weighted
    share is within `tol` of its target, or `max_iter` rounds have run (then
    a RuntimeWarning is raised and the last weights are returned).

    `sample` has one row per participant (or per judgement) and a column per
    attribute named in `targets`, which maps each attribute to its target
    shares (normalised to sum to 1). Choices made here:

    - a row whose value is missing, or has no target, is left out of that
      attribute's margin and keeps its weight on that step;
    - a target value that no row has cannot be reached: it is dropped and the
      other targets of that attribute are rescaled to sum to 1;
    - no trimming of extreme weights.

    Returns one weight per row, indexed like `sample`, normalised to mean 1.
    """
    n = len(sample)
    if n == 0:
        return pd.Series(dtype=float, index=sample.index, name="weight")
    margins: list[tuple[np.ndarray, np.ndarray]] = []
    for column, shares in targets.items():
        labels = list(shares)
        target = np.array([shares[label] for label in labels], dtype=float)
        if (target < 0).any():
            raise ValueError(f"target shares for {column!r} must be non-negative")
        codes = pd.Index(labels).get_indexer(sample[column])
        present = np.bincount(codes[codes >= 0], minlength=len(labels)) > 0
        target = np.where(present, target, 0.0)
        if target.sum() == 0:
            raise ValueError(f"no row of the sample has a targeted value of {column!r}")
        margins.append((codes, target / target.sum()))

    weights = np.ones(n)
    for _ in range(max_iter):
        for codes, target in margins:
            known = codes >= 0
            totals = np.bincount(codes[known], weights=weights[known], minlength=len(target))
            wanted = target * totals.sum()
            factor = np.divide(wanted, totals, out=np.ones_like(totals), where=totals > 0)
            weights[known] *= factor[codes[known]]
        if _largest_error(weights, margins) < tol:
            break
    else:
        warnings.warn(
            f"raking did not converge within {max_iter} iterations "
            f"(largest share error {_largest_error(weights, margins):.2g})",
            RuntimeWarning,
            stacklevel=2,
        )
    return pd.Series(weights * n / weights.sum(), index=sample.index, name="weight")


def _largest_error(weights: np.ndarray, margins: list[tuple[np.ndarray, np.ndarray]]) -> float:
    error = 0.0
    for codes, target in margins:
        known = codes >= 0
        totals = np.bincount(codes[known], weights=weights[known], minlength=len(target))
        error = max(error, float(np.abs(totals / totals.sum() - target).max()))
    return error


def kish_effective_sample_size(weights: Iterable[float]) -> float:
    """Kish's effective sample size n_eff = (Σ w)² / Σ w².

    The number of unweighted respondents that would give the same precision
    as the weighted sample (Kish, "Survey Sampling", Wiley 1965, §11.7).
    Equals n when all weights are equal and shrinks as weights spread. 0 for
    an empty sample or all-zero weights.
    """
    w = np.asarray(list(weights), dtype=float)
    squares = float((w**2).sum())
    return float(w.sum() ** 2 / squares) if squares > 0 else 0.0
