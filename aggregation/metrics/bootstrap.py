"""Bootstrap intervals: Krippendorff's α over resampled units, Bradley–Terry over resampled pairs.

Both are percentile intervals (Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993, ch. 13): the 2.5th and 97.5th percentiles of the statistic
over many resamples, drawn from a generator seeded by the caller, so that the
same data and seed give the same interval (releases pass their seed).

Both resample from counts rather than rows, which is exactly equivalent and
keeps the cost independent of the number of judgements: drawing n units (or
n comparisons) with replacement from n is a multinomial draw over the
distinct kinds of unit (or of comparison), weighted by how often each occurs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aggregation.metrics.pluralism import bradley_terry_fit

ALPHA_ROUNDS = 1000  # Hayes & Krippendorff (2007) use 1,000 or more
BRADLEY_TERRY_ROUNDS = 100  # as Chatbot Arena publishes its intervals
CONFIDENCE = 0.95
# Rounds drawn at once: bounds the rounds × distinct-units weight matrix (~16 MB).
BATCH_CELLS = 2_000_000


def percentile_interval(values: np.ndarray, *, confidence: float = CONFIDENCE) -> tuple:
    """The (lower, upper) percentiles of ``values`` around the middle ``confidence``
    (NaN entries left out); (None, None) when none is finite."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None, None
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def unit_coincidences(value_counts: np.ndarray) -> np.ndarray:
    """Each pairable unit's contribution to Krippendorff's coincidence matrix.

    For unit u with m_u ≥ 2 values, of which n_uc have value c:
    o_uck = (n_uc · n_uk − [c = k] · n_uc) / (m_u − 1) (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability": the coincidences of section C). Rows with fewer
    than two values must be removed first. Returns units × values × values.
    """
    counts = np.asarray(value_counts, dtype=float)
    m = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    outer -= counts[:, :, None] * np.eye(counts.shape[1])[None, :, :]
    return outer / (m - 1)[:, None, None]


def distinct_units(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a units × values count matrix, in a fixed order, and how often
    each occurs. Rows are read as numbers in base (largest count + 1) when that fits in
    64 bits, which sorts a million rows in a fraction of the time `np.unique(axis=0)` takes."""
    top = int(counts.max(initial=0)) + 1
    width = counts.shape[1]
    if np.all(counts == np.round(counts)) and width * np.log2(max(top, 2)) < 62:
        keys = counts.astype(np.int64) @ (top ** np.arange(width, dtype=np.int64))
        _, first, frequency = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], frequency
    return np.unique(counts, axis=0, return_counts=True)


def _delta(level: str, domain: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """The level's squared difference δ²_ck (Krippendorff 2011's metric differences):
    per round for ordinal (it depends on the values' frequencies n_c), else one matrix."""
    c, k = domain[:, None], domain[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(c + k == 0, 0.0, (c - k) / (c + k))
        return ratio**2
    if level == "ordinal":
        # Σ_{g=c..k} n_g − (n_c + n_k)/2, with values in `domain` order.
        cumulative = np.cumsum(n_c, axis=-1)
        return (
            cumulative[..., None, :]
            - cumulative[..., :, None]
            + (n_c[..., :, None] - n_c[..., None, :]) / 2
        ) ** 2
    raise ValueError(f"unknown level {level!r}")


def alpha_from_coincidences(coincidences: np.ndarray, *, level: str, domain) -> np.ndarray:
    """α = 1 − (n.. − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck for each coincidence matrix in a
    stack (rounds × values × values); the same α the `krippendorff` package computes
    (Krippendorff 2011). NaN where the values do not vary."""
    o = np.asarray(coincidences, dtype=float)
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    delta = _delta(level, np.asarray(domain, dtype=float), n_c)
    observed = (o * delta).sum(axis=(-2, -1))
    expected = (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where(expected > 0, alpha, np.nan)


def alpha_bootstrap(
    pairable_counts: np.ndarray,
    *,
    levels: Sequence[str],
    domain,
    rounds: int = ALPHA_ROUNDS,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """α of each level over ``rounds`` resamples of the pairable units.

    Each round draws as many units as there are, with replacement, and
    recomputes α (observed and expected disagreement both) on them: the
    nonparametric bootstrap over units, the independent sampling units of
    reliability data. Hayes & Krippendorff ("Answering the call for a
    standard reliability measure for coding data", Communication Methods and
    Measures 1, 2007) bootstrap α too, but resample pairs of values
    from the coincidence matrix with the expected disagreement held fixed,
    which treats the values within a unit as independent; resampling whole
    units keeps that dependence (Zapf et al., "Measuring inter-rater
    reliability for nominal data", BMC Med. Res. Methodol. 16:93, 2016,
    bootstrap units likewise). `tests/aggregation/test_metrics_bootstrap.py`
    checks by simulation that the 95% interval covers the true α about 95%
    of the time. All levels share the same resamples.
    """
    counts = np.asarray(pairable_counts, dtype=float)
    patterns, frequency = distinct_units(counts)
    per_pattern = unit_coincidences(patterns).reshape(len(patterns), -1)
    width = counts.shape[1]
    batch = max(1, BATCH_CELLS // max(len(patterns), 1))
    result = {level: [] for level in levels}
    done = 0
    while done < rounds:
        size = min(batch, rounds - done)
        weights = rng.multinomial(len(counts), frequency / len(counts), size=size)
        o = (weights @ per_pattern).reshape(size, width, width)
        for level in levels:
            result[level].append(alpha_from_coincidences(o, level=level, domain=domain))
        done += size
    return {level: np.concatenate(parts) for level, parts in result.items()}


def bradley_terry_bootstrap(
    counts: dict,
    *,
    rounds: int = BRADLEY_TERRY_ROUNDS,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
    alpha: float = 0.01,
) -> pd.DataFrame:
    """Percentile intervals of Bradley–Terry log-strengths over resampled comparisons.

    As Chatbot Arena computes its published intervals (Chiang et al., "Chatbot
    Arena", ICML 2024, arXiv 2403.04132; FastChat's `get_bootstrap_result`:
    100 rounds of the battles resampled with replacement, 2.5 and 97.5
    percentiles): each round draws as many decided pairs as there are, with
    replacement, refits the strengths as `bradley_terry_from_counts` does (centred on mean 0), and
    the interval is taken per source. ``counts`` maps (winner, loser) to
    decided pairs. Returns sources × (lower, upper), sorted by source. Pairs
    expanded from one ranking are resampled as if independent, which makes
    intervals from rankings somewhat narrow.
    """
    cells = sorted(counts)
    sources = pd.Index(sorted({s for pair in cells for s in pair}))
    columns = ["lower", "upper"]
    if sources.empty:
        return pd.DataFrame(columns=columns, index=sources, dtype=float)
    rows = sources.get_indexer([winner for winner, _ in cells])
    cols = sources.get_indexer([loser for _, loser in cells])
    n = np.array([counts[cell] for cell in cells], dtype=np.int64)
    total = int(n.sum())
    full = np.zeros((len(sources), len(sources)))
    np.add.at(full, (rows, cols), n)
    start = bradley_terry_fit(full, alpha=alpha)
    fitted = np.empty((rounds, len(sources)))
    for r, weights in enumerate(rng.multinomial(total, n / total, size=rounds)):
        # Every source stays in every round (one drawn into no pair gets the
        # regularised strength), so each round is centred over the same sources.
        wins = np.zeros((len(sources), len(sources)))
        np.add.at(wins, (rows, cols), weights)
        fitted[r] = bradley_terry_fit(wins, alpha=alpha, initial=start)
    bounds = [percentile_interval(fitted[:, s], confidence=confidence) for s in range(len(sources))]
    return pd.DataFrame(bounds, index=sources, columns=columns, dtype=float)
