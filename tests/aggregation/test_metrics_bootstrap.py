"""α with its support and bootstrap interval; Bradley–Terry intervals; their coverage.

The coverage tests simulate data whose true value is known and count how often the
95% interval holds it. They are seeded, so they give the same answer on every run;
the tolerance is three binomial standard errors around 95%, so an interval scheme
that covered 90% or 99% of the time would fail them.
"""

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from aggregation.metrics import (
    alpha_estimate,
    alpha_estimates_from_counts,
    bradley_terry_bootstrap,
    krippendorff_alpha_from_counts,
)
from aggregation.metrics.bootstrap import _delta, alpha_from_coincidences, unit_coincidences
from tests.aggregation.test_metrics_agreement import PUBLISHED, counted, published_long

LEVELS = ["nominal", "ordinal", "interval", "ratio"]
PUBLISHED_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


def published_table() -> pd.DataFrame:
    """Krippendorff (2011) §C as reliability data: 12 units (rows) × 4 coders (columns)."""
    return pd.DataFrame(PUBLISHED)


@pytest.mark.parametrize("level", LEVELS)
def test_a_units_by_coders_table_gives_the_published_alpha_and_its_support(level):
    estimate = alpha_estimate(published_table(), level=level)
    assert estimate.alpha == pytest.approx(PUBLISHED_ALPHA[level], abs=5e-4)
    # Unit 12 has one value, so 11 units are pairable, holding n.. = 40 values
    # (Krippendorff 2011, §C: "n.. = 40").
    assert (estimate.pairable_units, estimate.pairable_values) == (11, 40)
    assert not estimate.too_few
    assert estimate.rounds == 1000
    assert estimate.ci_low < estimate.alpha <= estimate.ci_high <= 1.0


def test_ordered_labels_in_a_table_read_as_ordinal():
    labels = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    table = published_table().apply(lambda column: column.map(labels))
    estimate = alpha_estimate(table, level="ordinal", value_domain=list(labels.values()))
    assert estimate.alpha == pytest.approx(0.815, abs=5e-4)


def test_below_the_minimum_alpha_is_too_few_and_gets_no_interval():
    # Two units judged twice, both in agreement: α = 1 "by luck" (the demo's Ward 7 case).
    table = pd.DataFrame({"a": [1, 2, 1, None], "b": [1, 2, None, 2], "c": [None] * 4})
    estimate = alpha_estimate(table, level="nominal")
    assert estimate.alpha == pytest.approx(1.0)
    assert (estimate.pairable_units, estimate.pairable_values) == (2, 4)
    assert estimate.too_few
    assert (estimate.ci_low, estimate.ci_high, estimate.rounds) == (None, None, 0)
    # The minimum is the caller's: with 11 pairable units, 12 is too few.
    assert alpha_estimate(published_table(), level="nominal", min_pairable_units=12).too_few


@pytest.mark.parametrize("level", LEVELS)
def test_the_bootstraps_alpha_is_the_packages_alpha(level):
    # The vectorised α used in every bootstrap round, on the original data.
    counts, values = counted(published_long())
    pairable = counts[counts.sum(axis=1) >= 2]
    o = unit_coincidences(pairable).sum(axis=0)
    assert o.sum() == 40  # n..
    expected = krippendorff_alpha_from_counts(counts, level=level, value_domain=values)
    assert alpha_from_coincidences(o, level=level, domain=values) == pytest.approx(expected)


def test_intervals_are_deterministic_given_the_seed():
    counts, values = counted(published_long())
    first = alpha_estimates_from_counts(counts, levels=LEVELS, value_domain=values, seed=7)
    again = alpha_estimates_from_counts(counts, levels=LEVELS, value_domain=values, seed=7)
    other = alpha_estimates_from_counts(counts, levels=LEVELS, value_domain=values, seed=8)
    assert first == again
    assert first["interval"].ci_low != other["interval"].ci_low


# Coverage by simulation ------------------------------------------------------------

# Latent-class reliability data: each unit has a true value z on a 5-point scale
# (shares PI); each coder reports z with probability Q, else a value uniformly at random.
K, Q = 5, 0.6
PI = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
REPORT = Q * np.eye(K) + (1 - Q) / K  # REPORT[z, c] = P(value c | true value z)
DOMAIN = np.arange(1.0, K + 1)


def population_alpha(level: str) -> float:
    """α of the population: 1 − D_o / D_e with D_o the expected δ² between two coders
    of one unit and D_e between two values drawn from all (Krippendorff 2011, §B, as
    n.. → ∞; the ordinal δ² uses the population shares of the values)."""
    shares = PI @ REPORT
    delta = _delta(level, DOMAIN, shares)
    observed = sum(PI[z] * REPORT[z] @ delta @ REPORT[z] for z in range(K))
    return 1 - observed / (shares @ delta @ shares)


def within_binomial_tolerance(hits: int, trials: int, p: float = 0.95) -> bool:
    spread = 3 * math.sqrt(p * (1 - p) / trials)
    return p - spread <= hits / trials <= p + spread


def test_alpha_intervals_cover_the_true_alpha_at_about_95_percent():
    units, coders, simulations = 200, 3, 200
    truth = {level: population_alpha(level) for level in ("nominal", "interval")}
    assert truth["nominal"] == pytest.approx(0.3527, abs=1e-4)  # worked by hand: see below
    rng = np.random.default_rng(2026)
    hits = dict.fromkeys(truth, 0)
    for n in range(simulations):
        z = rng.choice(K, size=units, p=PI)
        counts = np.stack([rng.multinomial(coders, REPORT[value]) for value in z])
        found = alpha_estimates_from_counts(counts, levels=list(truth), value_domain=DOMAIN, seed=n)
        for level, estimate in found.items():
            hits[level] += estimate.ci_low <= truth[level] <= estimate.ci_high
    for level in truth:
        assert within_binomial_tolerance(hits[level], simulations), (level, hits[level])


def test_population_alpha_by_hand():
    # Nominal: two coders of a unit agree with probability Σ_z π_z Σ_c r(c|z)²
    # = (0.68² + 4 · 0.08²) = 0.4880 whatever z; the values' shares are
    # p = 0.6 π + 0.08 = (0.14, 0.20, 0.26, 0.23, 0.17), so D_e = 1 − Σ p² = 1 − 0.209
    # = 0.791; α = 1 − 0.512 / 0.791 = 0.35272.
    assert population_alpha("nominal") == pytest.approx(1 - 0.512 / 0.791, abs=1e-9)


THETA = np.array([0.8, 0.2, -0.3, -0.7])  # centred: mean 0
SOURCES = ["m0", "m1", "m2", "m3"]


def test_bradley_terry_intervals_cover_the_true_strengths_at_about_95_percent():
    simulations, per_pair = 100, 100
    rng = np.random.default_rng(11)
    hits = np.zeros(len(SOURCES), dtype=int)
    for n in range(simulations):
        counts = {}
        for i, j in combinations(range(len(SOURCES)), 2):
            wins = rng.binomial(per_pair, 1 / (1 + math.exp(THETA[j] - THETA[i])))
            counts[(SOURCES[i], SOURCES[j])] = wins
            counts[(SOURCES[j], SOURCES[i])] = per_pair - wins
        found = bradley_terry_bootstrap(counts, rng=np.random.default_rng(n))
        hits += (found["lower"].to_numpy() <= THETA) & (found["upper"].to_numpy() >= THETA)
    assert within_binomial_tolerance(int(hits.sum()), simulations * len(SOURCES)), hits


def test_bradley_terry_intervals_are_deterministic_and_per_source():
    counts = {("a", "b"): 30, ("b", "a"): 10, ("b", "c"): 25, ("c", "b"): 15, ("a", "c"): 5}
    first = bradley_terry_bootstrap(counts, rng=np.random.default_rng(3))
    again = bradley_terry_bootstrap(counts, rng=np.random.default_rng(3))
    pd.testing.assert_frame_equal(first, again)
    assert list(first.index) == ["a", "b", "c"]
    assert (first["lower"] < first["upper"]).all()
    assert bradley_terry_bootstrap({}, rng=np.random.default_rng(0)).empty
