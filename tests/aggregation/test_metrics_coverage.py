import math

import pandas as pd
import pytest

from aggregation.metrics import (
    attribute_shares,
    gini,
    items_at_k,
    largest_absolute_gap,
    participant_load,
    total_variation_distance,
)


def test_items_at_k_counts_unanswered_items_as_zero():
    # Items a..e with 3, 1, 0, 2, 0 responses (c and e only known from item_ids).
    # At k=2: a and d → 2 of 5 = 0.4. Mean (3+1+0+2+0)/5 = 1.2; min 0.
    counts = pd.Series({"a": 3, "b": 1, "d": 2})
    result = items_at_k(counts, k=2, item_ids=["a", "b", "c", "d", "e"])
    assert result.items == 5
    assert result.at_k == 2
    assert result.share_at_k == pytest.approx(0.4)
    assert result.responses_mean == pytest.approx(1.2)
    assert result.responses_min == 0


def test_items_at_k_without_item_ids_uses_the_counts_alone():
    # {a: 3, b: 1}: at k=1 both → share 1; mean 2; min 1.
    result = items_at_k({"a": 3, "b": 1}, k=1)
    assert (result.items, result.at_k, result.share_at_k) == (2, 2, 1.0)
    assert (result.responses_mean, result.responses_min) == (2.0, 1.0)


def test_items_at_k_with_no_items_is_nan_not_an_error():
    result = items_at_k({}, k=3)
    assert result.items == 0 and result.at_k == 0
    assert math.isnan(result.share_at_k) and math.isnan(result.responses_mean)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # All equal: no inequality.
        ([5, 5, 5, 5], 0.0),
        # One of four does everything: the maximum (n−1)/n = 3/4.
        ([0, 0, 0, 10], 0.75),
        # [1,2,3,4]: Σᵢⱼ|xᵢ−xⱼ| = 2·(1+2+3+1+2+1) = 20; 2n²x̄ = 2·16·2.5 = 80 → 0.25.
        ([4, 1, 3, 2], 0.25),
    ],
)
def test_gini_hand_worked(values, expected):
    assert gini(values) == pytest.approx(expected)


def test_gini_undefined_without_responses():
    assert math.isnan(gini([]))
    assert math.isnan(gini([0, 0]))
    with pytest.raises(ValueError):
        gini([1, -1])


def test_participant_load_reports_the_dominant_annotator():
    # 4 participants with 1, 2, 3, 4 responses: 10 responses, Gini 0.25 (see above),
    # the largest participant wrote 4 of 10 = 0.4.
    load = participant_load(pd.Series({"p1": 1, "p2": 2, "p3": 3, "p4": 4}))
    assert load.participants == 4
    assert load.responses == 10
    assert load.gini == pytest.approx(0.25)
    assert load.largest_share == pytest.approx(0.4)


def test_attribute_shares_against_targets():
    # 10 members: 6 "f", 3 "m", 1 missing → shares over 9 known: f 2/3, m 1/3, x 0.
    # Targets f .5, m .4, x .1 → gaps +1/6, −1/15, −1/10.
    values = pd.Series(["f"] * 6 + ["m"] * 3 + [None])
    table = attribute_shares(values, targets={"f": 0.5, "m": 0.4, "x": 0.1})
    assert table.loc["f", "count"] == 6
    assert table.loc["x", "count"] == 0
    assert table.loc["f", "observed_share"] == pytest.approx(2 / 3)
    assert table.loc["m", "gap"] == pytest.approx(1 / 3 - 0.4)
    assert table.loc["x", "gap"] == pytest.approx(-0.1)
    # Largest |gap| is f's 1/6; TVD = ½(1/6 + 1/15 + 1/10) = ½ · 1/3 = 1/6.
    observed, target = table["observed_share"], table["target_share"]
    assert largest_absolute_gap(observed, target) == pytest.approx(1 / 6)
    assert total_variation_distance(observed, target) == pytest.approx(1 / 6)


def test_attribute_shares_with_weights_show_the_weighted_sample():
    # f weighted 1 each, m weighted 2 each: f 1·2 = 2, m 2·2 = 4 → f 1/3, m 2/3.
    values = pd.Series(["f", "f", "m", "m"])
    weights = pd.Series([1.0, 1.0, 2.0, 2.0])
    table = attribute_shares(values, targets={"f": 1, "m": 2}, weights=weights)
    assert table["observed_share"].to_dict() == pytest.approx({"f": 1 / 3, "m": 2 / 3})
    assert table["target_share"].to_dict() == pytest.approx({"f": 1 / 3, "m": 2 / 3})


def test_total_variation_distance_hand_worked():
    # Disjoint supports → 1. p = (.5,.5,0), q = (.25,.25,.5): ½(.25+.25+.5) = .5.
    assert total_variation_distance({"a": 1}, {"b": 1}) == pytest.approx(1.0)
    assert total_variation_distance(
        {"a": 0.5, "b": 0.5}, {"a": 0.25, "b": 0.25, "c": 0.5}
    ) == pytest.approx(0.5)
    # Counts are normalised: (2, 2) is the same as (.5, .5).
    assert total_variation_distance({"a": 2, "b": 2}, {"a": 0.5, "b": 0.5}) == 0.0
    assert math.isnan(total_variation_distance({}, {}))
