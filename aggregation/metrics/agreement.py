"""Agreement between raters who judged the same units (items or candidates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _rows(data: pd.DataFrame, unit: str, rater: str, value: str) -> pd.DataFrame:
    rows = data[[unit, rater, value]].dropna(subset=[value])
    if rows.duplicated([unit, rater]).any():
        raise ValueError("a rater has more than one value for the same unit")
    return rows


def krippendorff_alpha(
    data: pd.DataFrame,
    *,
    level: Level,
    value_domain: Sequence | None = None,
    unit: str = "unit_id",
    rater: str = "rater_id",
    value: str = "value",
) -> float:
    """Krippendorff's α from long data: one row per (unit, rater, value).

    α = 1 − D_o / D_e, observed over expected disagreement (Krippendorff,
    "Computing Krippendorff's Alpha-Reliability", 2011; "Content Analysis",
    3rd ed., 2013, ch. 12), computed by the `krippendorff` package. 1 is
    perfect agreement, 0 is what chance gives, below 0 is systematic
    disagreement; Krippendorff suggests α ≥ 0.8 for reliable data and 0.667
    as the lowest acceptable for tentative conclusions.

    `level` must fit the data: "nominal" for choices (A, B, tie), "ordinal"
    for rating scales whose steps are not known to be equal, "interval" or
    "ratio" for numeric ratings. Nominal values may be any labels (they are
    mapped to codes). Ordinal values must be numeric unless `value_domain`
    lists the labels in order ("bad", "ok", "good"). Interval and ratio
    values must be numeric; `value_domain` may list scale points.

    Rows with a missing value are left out; a rater rating a unit twice is an
    error. Returns NaN when α is undefined: no unit has two or more values
    (nothing is pairable), or all pairable values are the same (no variation,
    so D_e = 0).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    rows = _rows(data, unit, rater, value)
    codes, domain = _codes(rows[value], level=level, value_domain=value_domain)
    rows = rows.assign(_code=codes)

    pairable = rows[rows.groupby(unit)[rater].transform("size") >= 2]
    if pairable["_code"].nunique() < 2:
        return float("nan")
    if domain is None:
        domain = np.sort(pairable["_code"].unique())
    # Units × values counts straight from the long rows: the raters × units matrix the
    # package would otherwise expand is mostly empty and too large for big campaigns.
    counts = pairable.groupby([unit, "_code"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=domain, fill_value=0).to_numpy(dtype=float)
    return float(
        krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    )


def _codes(
    values: pd.Series, *, level: Level, value_domain: Sequence | None
) -> tuple[pd.Series, np.ndarray | None]:
    """Numbers the krippendorff package can take, and the value domain to pass with them."""
    if level == "nominal" or (level == "ordinal" and value_domain is not None):
        labels = list(pd.unique(values)) if value_domain is None else list(value_domain)
        position = {label: i for i, label in enumerate(labels)}
        unknown = set(values) - set(position)
        if unknown:
            raise ValueError(f"values outside value_domain: {sorted(map(str, unknown))}")
        return values.map(position).astype(float), np.arange(len(labels), dtype=float)
    numbers = pd.to_numeric(values).astype(float)
    if value_domain is None:
        return numbers, None
    domain = np.asarray(value_domain, dtype=float)
    if not numbers.isin(domain).all():
        raise ValueError("values outside value_domain")
    return numbers, domain


def percent_agreement(
    data: pd.DataFrame,
    *,
    unit: str = "unit_id",
    rater: str = "rater_id",
    value: str = "value",
) -> float:
    """Raw percent agreement: the share of agreeing pairs among all pairable pairs.

    Within each unit with m ≥ 2 values, every unordered pair of values from
    two different raters is a pairable pair (m(m − 1)/2 of them); a pair
    agrees when both values are equal. The result pools pairs over units:
    Σ agreeing pairs / Σ pairs, so units with more raters weigh more. With
    the same number of raters on every unit this equals Fleiss' P̄ (Fleiss,
    "Measuring nominal scale agreement among many raters", Psychol. Bull.
    76, 1971, eq. 2–3). Unlike α it is not corrected for chance, so it reads
    high when one value dominates (Krippendorff 2013, §12.1).

    Rows with a missing value are left out; a rater rating a unit twice is an
    error. NaN when no unit has two values.
    """
    rows = _rows(data, unit, rater, value)
    per_unit = rows.groupby(unit).size()
    per_value = rows.groupby([unit, value]).size()
    pairs = float((per_unit * (per_unit - 1) / 2).sum())
    agreeing = float((per_value * (per_value - 1) / 2).sum())
    return agreeing / pairs if pairs else float("nan")
