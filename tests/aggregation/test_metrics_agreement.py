import math

import numpy as np
import pandas as pd
import pytest

from aggregation.metrics import (
    krippendorff_alpha,
    krippendorff_alpha_from_counts,
    percent_agreement,
    percent_agreement_from_counts,
)

# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: four
# observers A–D, twelve units, values 1–5, "." missing. Published: nominal α = 0.743,
# ordinal α = 0.815, interval α = 0.849, ratio α = 0.797.
_ = np.nan
PUBLISHED = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    "C": [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
}


def published_long() -> pd.DataFrame:
    rows = [
        {"unit_id": unit, "rater_id": rater, "value": value}
        for rater, values in PUBLISHED.items()
        for unit, value in enumerate(values, start=1)
        if not math.isnan(value)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_matches_krippendorffs_worked_example(level, published):
    assert krippendorff_alpha(published_long(), level=level) == pytest.approx(published, abs=5e-4)


def test_alpha_takes_labels_nominal_and_ordered_labels_ordinal():
    labels = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    data = published_long().assign(value=lambda d: d["value"].map(labels))
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(0.743, abs=5e-4)
    ordered = ["very low", "low", "mid", "high", "very high"]
    assert krippendorff_alpha(data, level="ordinal", value_domain=ordered) == pytest.approx(
        0.815, abs=5e-4
    )
    with pytest.raises(ValueError):
        krippendorff_alpha(data, level="interval")


def test_alpha_reads_choices_as_nominal_codes():
    # Two raters, choices A/B/tie on 4 items, agreeing on 3: (A,A) (B,B) (tie,tie) (A,B).
    # Coincidences: A–A 2, B–B 2, tie–tie 2, A–B 1, B–A 1; n = 8, n_A = 3, n_B = 3, n_tie = 2.
    # D_o = 2/8; D_e = (8·8 − 9 − 9 − 4) / (8·7) = 42/56 → α = 1 − (2/8)/(42/56) = 2/3.
    data = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 2, 3, 3, 4, 4],
            "rater_id": ["r1", "r2"] * 4,
            "value": ["A", "A", "B", "B", "tie", "tie", "A", "B"],
        }
    )
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(2 / 3)


def test_alpha_is_nan_when_undefined():
    # Nobody shares a unit: nothing pairable.
    alone = pd.DataFrame({"unit_id": [1, 2], "rater_id": ["a", "b"], "value": [1, 2]})
    assert math.isnan(krippendorff_alpha(alone, level="nominal"))
    # Everyone gave the same value: no variation, D_e = 0.
    same = pd.DataFrame({"unit_id": [1, 1, 2, 2], "rater_id": ["a", "b"] * 2, "value": [3] * 4})
    assert math.isnan(krippendorff_alpha(same, level="interval"))
    assert math.isnan(krippendorff_alpha(same.iloc[:0], level="nominal"))


def test_alpha_rejects_a_rater_rating_a_unit_twice():
    data = pd.DataFrame({"unit_id": [1, 1, 1], "rater_id": ["a", "a", "b"], "value": [1, 2, 1]})
    with pytest.raises(ValueError, match="more than one value"):
        krippendorff_alpha(data, level="nominal")


def test_percent_agreement_on_the_published_example():
    # Pairs per unit (agreeing / all): u1 3/3, u2 3/6, u3–u5 6/6 each, u6 0/6, u7 6/6,
    # u8 3/6, u9 6/6, u10 3/3, u11 1/1, u12 has one value (no pair).
    # Σ agreeing = 3+3+18+0+6+3+6+3+1 = 43; Σ pairs = 3 + 8·6 + 3 + 1 = 55 → 43/55.
    assert percent_agreement(published_long()) == pytest.approx(43 / 55)


def test_percent_agreement_without_pairs_is_nan():
    data = pd.DataFrame({"unit_id": [1, 2], "rater_id": ["a", "a"], "value": ["A", "B"]})
    assert math.isnan(percent_agreement(data))


def test_alpha_with_a_scale_wider_than_the_values_used():
    # Interval distances depend only on the values, so listing unused scale points
    # (1–7 while the data use 1–5) leaves the published 0.849 unchanged.
    data = published_long()
    assert krippendorff_alpha(data, level="interval", value_domain=range(1, 8)) == pytest.approx(
        0.849, abs=5e-4
    )
    with pytest.raises(ValueError, match="outside"):
        krippendorff_alpha(data, level="interval", value_domain=[1, 2, 3])


def counted(data: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Units × values counts of long data, columns in value order."""
    table = data.groupby(["unit_id", "value"]).size().unstack(fill_value=0)
    return table.to_numpy(), list(table.columns)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_from_counts_matches_alpha_from_judgements(level):
    # The published example, counted per (unit, value) first, as releases do.
    counts, values = counted(published_long())
    expected = krippendorff_alpha(published_long(), level=level)
    assert krippendorff_alpha_from_counts(
        counts, level=level, value_domain=values
    ) == pytest.approx(expected, abs=1e-12)
    # Unused scale points and units with a single value change nothing.
    wider = np.hstack([counts, np.zeros((len(counts), 2))])
    wider = np.vstack([wider, [[0, 0, 1, 0, 0, 0, 0]]])
    assert krippendorff_alpha_from_counts(
        wider, level=level, value_domain=[*values, 6, 7]
    ) == pytest.approx(expected, abs=1e-12)


def test_alpha_from_counts_edge_cases():
    # Nothing pairable, or no variation: NaN. Interval needs the values.
    assert math.isnan(krippendorff_alpha_from_counts(np.array([[1, 0], [0, 1]]), level="nominal"))
    assert math.isnan(krippendorff_alpha_from_counts(np.array([[3, 0], [2, 0]]), level="nominal"))
    with pytest.raises(ValueError):
        krippendorff_alpha_from_counts(np.array([[1, 1]]), level="interval")
    # test_alpha_reads_choices_as_nominal_codes, counted: units × (A, B, tie).
    choices = np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2], [1, 1, 0]])
    assert krippendorff_alpha_from_counts(choices, level="nominal") == pytest.approx(2 / 3)


def test_percent_agreement_from_counts():
    counts, _ = counted(published_long())
    assert percent_agreement_from_counts(counts) == pytest.approx(43 / 55)
    assert math.isnan(percent_agreement_from_counts(np.array([[1, 0], [0, 1]])))
