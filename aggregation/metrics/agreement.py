"""Agreement between raters who judged the same units (items or candidates)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd

from aggregation.metrics.bootstrap import ALPHA_ROUNDS, alpha_bootstrap, percentile_interval

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS = ("nominal", "ordinal", "interval", "ratio")
# Below this many units judged at least twice, α is reported with its support but
# shown as "too few overlapping judgements" (settings.PLURALIGN_MIN_PAIRABLE_UNITS).
MIN_PAIRABLE_UNITS = 10
TOO_FEW = "too few overlapping judgements"


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
    counts, domain = _value_counts(
        rows, level=level, value_domain=value_domain, unit=unit, value=value
    )
    return krippendorff_alpha_from_counts(counts, level=level, value_domain=domain)


def _value_counts(
    rows: pd.DataFrame, *, level: Level, value_domain: Sequence | None, unit: str, value: str
) -> tuple[np.ndarray, np.ndarray]:
    """Units × values counts of long rows (one per unit and rater), and the value each
    column stands for."""
    codes, domain = _codes(rows[value], level=level, value_domain=value_domain)
    rows = rows.assign(_code=codes)
    if domain is None:
        domain = np.sort(rows["_code"].unique())
    # Units × values counts straight from the long rows: the raters × units matrix the
    # package would otherwise expand is mostly empty and too large for big campaigns.
    counts = rows.groupby([unit, "_code"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=domain, fill_value=0).to_numpy(dtype=float)
    return counts, np.asarray(domain, dtype=float)


def krippendorff_alpha_from_counts(
    value_counts: np.ndarray,
    *,
    level: Level,
    value_domain: Sequence | None = None,
) -> float:
    """Krippendorff's α from a units × values matrix of counts.

    The same α as `krippendorff_alpha` (same definition, same package), for
    data already counted: ``value_counts[u, v]`` is how many raters gave unit
    u the value ``value_domain[v]``. Counting first is what lets a release
    compute α over a million judgements in a few megabytes: the counts are
    gathered chunk by chunk and the judgements never sit in memory together.

    `value_domain` gives the value each column stands for, in order; it is
    needed for "interval" and "ratio" and defaults to the column positions
    (enough for "nominal", and for "ordinal" when the columns are in order).
    Units with fewer than two values are not pairable and are left out. NaN
    when nothing is pairable or the pairable values do not vary.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    counts = _matrix(value_counts)
    if value_domain is None:
        if level in ("interval", "ratio"):
            raise ValueError(f"{level} α needs the value_domain the columns stand for")
        domain = np.arange(counts.shape[1], dtype=float)
    else:
        domain = np.asarray(list(value_domain), dtype=float)
        if len(domain) != counts.shape[1]:
            raise ValueError("value_domain must name one value per column")
    pairable = counts[counts.sum(axis=1) >= 2]
    if np.count_nonzero(pairable.sum(axis=0)) < 2:
        return float("nan")
    return float(
        krippendorff.alpha(value_counts=pairable, value_domain=domain, level_of_measurement=level)
    )


def _matrix(value_counts) -> np.ndarray:
    """Counts as units × values (leading axes are units), empty ones included."""
    counts = np.asarray(value_counts, dtype=float)
    return counts.reshape(int(np.prod(counts.shape[:-1])), counts.shape[-1])


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
    counts = rows.groupby([unit, value]).size().unstack(fill_value=0)
    return percent_agreement_from_counts(counts.to_numpy(dtype=float))


def percent_agreement_from_counts(value_counts: np.ndarray) -> float:
    """`percent_agreement` from a units × values matrix of counts (see
    `krippendorff_alpha_from_counts`): Σ agreeing pairs / Σ pairs over units,
    exactly as counted from the judgements. NaN when no unit has two values."""
    counts = _matrix(value_counts)
    per_unit = counts.sum(axis=1)
    pairs = float((per_unit * (per_unit - 1) / 2).sum())
    agreeing = float((counts * (counts - 1) / 2).sum())
    return agreeing / pairs if pairs else float("nan")


@dataclasses.dataclass(frozen=True)
class AlphaEstimate:
    """Krippendorff's α at one level, with what it rests on and a bootstrap interval.

    ``pairable_units``: units with at least two values, the only ones α uses;
    ``pairable_values``: the values in them (n.. in Krippendorff 2011).
    ``ci_low``/``ci_high``: the 95% percentile bootstrap interval over
    ``rounds`` resamples of the pairable units (`bootstrap.alpha_bootstrap`),
    None when not computed. `too_few` is true below ``min_pairable_units``
    pairable units: α is then reported with its support but not shown as a
    number, because two units judged twice can give α = 1 by luck.
    """

    level: str
    alpha: float
    pairable_units: int
    pairable_values: int
    ci_low: float | None
    ci_high: float | None
    rounds: int
    min_pairable_units: int

    @property
    def too_few(self) -> bool:
        return self.pairable_units < self.min_pairable_units


def alpha_support(value_counts: np.ndarray) -> tuple[int, int]:
    """(pairable units, pairable values) of a units × values count matrix."""
    counts = _matrix(value_counts)
    per_unit = counts.sum(axis=1)
    pairable = per_unit >= 2
    return int(pairable.sum()), int(per_unit[pairable].sum())


def alpha_estimates_from_counts(
    value_counts: np.ndarray,
    *,
    levels: Sequence[Level],
    value_domain: Sequence | None = None,
    rounds: int = ALPHA_ROUNDS,
    seed: int | Sequence[int] = 0,
    min_pairable_units: int = MIN_PAIRABLE_UNITS,
) -> dict[str, AlphaEstimate]:
    """`krippendorff_alpha_from_counts` at each of ``levels``, with support and interval.

    The levels share one set of bootstrap resamples drawn from
    ``numpy.random.default_rng(seed)``, so the same counts and seed give the
    same intervals. The bootstrap is skipped (``rounds`` 0, no interval) when
    α is undefined or there are fewer than ``min_pairable_units`` pairable
    units, where an interval would only dress up noise.
    """
    counts = _matrix(value_counts)
    if value_domain is None and any(level in ("interval", "ratio") for level in levels):
        raise ValueError("interval and ratio α need the value_domain the columns stand for")
    domain = (
        np.arange(counts.shape[1], dtype=float)
        if value_domain is None
        else np.asarray(list(value_domain), dtype=float)
    )
    units, values = alpha_support(counts)
    point = {
        level: krippendorff_alpha_from_counts(counts, level=level, value_domain=domain)
        for level in levels
    }
    defined = [level for level in levels if np.isfinite(point[level])]
    drawn = {}
    if rounds and defined and units >= min_pairable_units:
        pairable = counts[counts.sum(axis=1) >= 2]
        drawn = alpha_bootstrap(
            pairable,
            levels=defined,
            domain=domain,
            rounds=rounds,
            rng=np.random.default_rng(seed),
        )
    result = {}
    for level in levels:
        low, high = percentile_interval(drawn[level]) if level in drawn else (None, None)
        result[level] = AlphaEstimate(
            level=level,
            alpha=point[level],
            pairable_units=units,
            pairable_values=values,
            ci_low=low,
            ci_high=high,
            rounds=rounds if level in drawn else 0,
            min_pairable_units=min_pairable_units,
        )
    return result


def alpha_estimate(
    table: pd.DataFrame,
    *,
    level: Level,
    value_domain: Sequence | None = None,
    rounds: int = ALPHA_ROUNDS,
    seed: int | Sequence[int] = 0,
    min_pairable_units: int = MIN_PAIRABLE_UNITS,
) -> AlphaEstimate:
    """Krippendorff's α of a units × coders table, with its support and bootstrap interval.

    One row per unit (a rated response, say), one column per coder, NaN (or
    None) where a coder gave the unit no value: Krippendorff's reliability
    data laid out units by coders, so the published 12-unit, 4-coder example
    (Krippendorff 2011, §C) is entered as it stands. Values are read as in
    `krippendorff_alpha` (labels for nominal; numbers, or labels ordered by
    ``value_domain``, for ordinal; numbers for interval and ratio). A rubric
    of several attributes gives one table, and one α, per attribute.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    cells = pd.DataFrame(table.to_numpy(dtype=object))
    rows = cells.melt(ignore_index=False, var_name="rater_id", value_name="value")
    rows = rows.rename_axis("unit_id").reset_index().dropna(subset=["value"])
    counts, domain = _value_counts(
        rows, level=level, value_domain=value_domain, unit="unit_id", value="value"
    )
    estimates = alpha_estimates_from_counts(
        counts,
        levels=[level],
        value_domain=domain,
        rounds=rounds,
        seed=seed,
        min_pairable_units=min_pairable_units,
    )
    return estimates[level]
