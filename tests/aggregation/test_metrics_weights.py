import warnings

import numpy as np
import pandas as pd
import pytest

from aggregation.metrics import attribute_shares, kish_effective_sample_size, rake_weights


def test_rake_weights_hand_worked_independent_margins():
    # One member per cell (f,young), (f,old), (m,young), (m,old); targets sex f .6 m .4,
    # age young .3 old .7. Sex step: f rows × .6/.5 = 1.2, m rows × .4/.5 = 0.8.
    # Age step: young share (1.2+0.8)/4 = .5 → × .3/.5 = .6; old × .7/.5 = 1.4.
    # Weights: (f,y) .72, (f,o) 1.68, (m,y) .48, (m,o) 1.12; sum 4, so mean is already 1,
    # and the sex margin still holds (f = 2.4/4 = .6): converged after one round.
    sample = pd.DataFrame(
        {"sex": ["f", "f", "m", "m"], "age": ["young", "old", "young", "old"]},
        index=["p1", "p2", "p3", "p4"],
    )
    weights = rake_weights(
        sample, targets={"sex": {"f": 0.6, "m": 0.4}, "age": {"young": 0.3, "old": 0.7}}
    )
    assert weights.to_dict() == pytest.approx({"p1": 0.72, "p2": 1.68, "p3": 0.48, "p4": 1.12})
    # Kish: (Σw)² / Σw² = 16 / (.5184 + 2.8224 + .2304 + 1.2544) = 16 / 4.8256.
    assert kish_effective_sample_size(weights) == pytest.approx(16 / 4.8256)


def test_rake_weights_match_every_margin_when_attributes_are_correlated():
    rng = np.random.default_rng(7)
    sex = rng.choice(["f", "m"], size=400, p=[0.7, 0.3])
    # Age depends on sex, so one pass is not enough.
    age = np.where(sex == "f", rng.choice(["y", "o"], 400, p=[0.8, 0.2]), "o")
    sex[:5], age[:5] = "m", "y"  # a few young men so every cell is reachable
    sample = pd.DataFrame({"sex": sex, "age": age})
    targets = {"sex": {"f": 0.5, "m": 0.5}, "age": {"y": 0.4, "o": 0.6}}
    weights = rake_weights(sample, targets=targets, tol=1e-8, max_iter=1000)
    assert weights.mean() == pytest.approx(1.0)
    for column, shares in targets.items():
        table = attribute_shares(sample[column], targets=shares, weights=weights)
        assert table["gap"].abs().max() < 1e-6


def test_rake_weights_drop_unreachable_targets_and_leave_missing_values_alone():
    # Target "x" has no member: dropped, f .4 m .4 rescale to .5 .5.
    # Member p3 has no sex: kept out of the margin, keeps weight 1 before normalising.
    # f rows (p1, p2) total 2 → ×(.5·3/2) = .75 each; m row p4 → ×1.5; p3 stays 1.
    # Weights .75, .75, 1, 1.5: sum 4 over 4 rows, so mean is 1 already.
    sample = pd.DataFrame({"sex": ["f", "f", None, "m"]}, index=["p1", "p2", "p3", "p4"])
    weights = rake_weights(sample, targets={"sex": {"f": 0.4, "m": 0.4, "x": 0.2}})
    assert weights.to_dict() == pytest.approx({"p1": 0.75, "p2": 0.75, "p3": 1.0, "p4": 1.5})


def test_rake_weights_warns_when_it_cannot_converge():
    # Every woman is young and every man old: sex f .5 and age young .2 contradict.
    sample = pd.DataFrame({"sex": ["f", "m"], "age": ["y", "o"]})
    targets = {"sex": {"f": 0.5, "m": 0.5}, "age": {"y": 0.2, "o": 0.8}}
    with pytest.warns(RuntimeWarning, match="did not converge"):
        weights = rake_weights(sample, targets=targets, max_iter=5)
    assert weights.mean() == pytest.approx(1.0)


def test_rake_weights_reject_a_margin_no_member_can_fill():
    sample = pd.DataFrame({"sex": ["f", "f"]})
    with pytest.raises(ValueError, match="no row"):
        rake_weights(sample, targets={"sex": {"m": 1.0}})


def test_rake_weights_on_an_empty_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weights = rake_weights(pd.DataFrame({"sex": []}), targets={"sex": {"f": 1.0}})
    assert weights.empty


def test_kish_effective_sample_size_hand_worked():
    # Equal weights: n. Weights (1, 3): 4² / (1 + 9) = 1.6.
    assert kish_effective_sample_size([1, 1, 1, 1]) == pytest.approx(4.0)
    assert kish_effective_sample_size([1, 3]) == pytest.approx(1.6)
    assert kish_effective_sample_size([]) == 0.0
