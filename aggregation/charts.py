"""Server-side charts for the coverage dashboard: SVG drawn with matplotlib (Agg).

A chart is described by a `ChartSpec` (its kind, title and numbers, all plain
JSON) that the page builds cheaply, with the chart's text alternative and a
version hash of its numbers; the picture itself is drawn only when the browser
asks for it (`views.campaign_chart`), and cached under that version. So a page
never waits for matplotlib, and an unchanged chart is drawn once.

Every chart is readable without hovering (each bar carries its value) and the
pages put a table with the same numbers beside it. Deterministic: a fixed size,
a fixed hash salt for the SVG's ids and no date in its metadata, so the same
numbers give the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from datetime import date

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from aggregation import drawing

BLUE = "#2f6bb3"
TEAL = "#2a9d8f"
RED = "#b3261e"
GREY = "#c3c9d2"
TEXT = "#1c2430"
MUTED = "#5a6573"
AUDIENCE_COLOURS = ["#2f6bb3", "#e08a2e", "#3f9a62", "#8e5bb5", "#b5485d", "#6b7a8f"]
DPI = 100
WIDTH = 9.2  # inches: about the width of the dashboard's content at 100 dpi
RC = {
    "svg.hashsalt": "pluralign-dashboard",
    # Text as <text> elements: a third of the size of glyph paths, and sharp at any zoom.
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.edgecolor": GREY,
    "axes.labelcolor": TEXT,
    "xtick.color": MUTED,
    "ytick.color": TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclasses.dataclass(frozen=True)
class ChartSpec:
    name: str  # in the chart's URL: progress, daily, strata-<audience slug>
    kind: str
    title: str
    data: dict
    alt: str
    height_inches: float

    @property
    def version(self) -> str:
        """A hash of everything drawn: a new version only when the picture changes."""
        body = json.dumps([self.kind, self.title, self.data], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def width(self) -> int:
        return round(WIDTH * DPI)

    @property
    def height(self) -> int:
        return round(self.height_inches * DPI)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


# Progress toward k -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProgressBar:
    audience: str
    fill: float  # filled slots / slots
    filled: int
    slots: int
    share_at_k: float | None
    items_at_k: int | None
    items: int | None


def progress_spec(bars: list[ProgressBar], *, title: str) -> ChartSpec:
    """Per audience: the share of slots filled and the share of items with k responses."""
    alt = f"{title}. " + " ".join(
        f"{bar.audience}: {_percent(bar.fill)} of slots filled ({bar.filled:,} of {bar.slots:,}), "
        + (
            "items at k not computed yet."
            if bar.share_at_k is None
            else f"{_percent(bar.share_at_k)} of items at k ({bar.items_at_k:,} of {bar.items:,})."
        )
        for bar in bars
    )
    return ChartSpec(
        name="progress",
        kind="progress",
        title=title,
        data={"bars": [dataclasses.asdict(bar) for bar in bars]},
        alt=alt,
        height_inches=1.0 + 0.75 * max(len(bars), 1),
    )


def _draw_progress(figure: Figure, spec: ChartSpec) -> None:
    bars = [ProgressBar(**bar) for bar in spec.data["bars"]]
    ax = figure.subplots()
    positions = np.arange(len(bars))
    ax.barh(positions - 0.19, [bar.fill for bar in bars], 0.36, color=BLUE, label="slots filled")
    ax.barh(
        positions + 0.19,
        [bar.share_at_k or 0.0 for bar in bars],
        0.36,
        color=TEAL,
        label="items at k",
    )
    for y, bar in zip(positions, bars, strict=True):
        ax.text(
            bar.fill + 0.01,
            y - 0.19,
            f"{_percent(bar.fill)} · {bar.filled:,} of {bar.slots:,} slots",
            va="center",
            fontsize=10,
            color=TEXT,
        )
        label = (
            "not computed yet"
            if bar.share_at_k is None
            else f"{_percent(bar.share_at_k)} · {bar.items_at_k:,} of {bar.items:,} items"
        )
        ax.text((bar.share_at_k or 0.0) + 0.01, y + 0.19, label, va="center", fontsize=10)
    ax.set_yticks(positions, labels=[bar.audience for bar in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.45)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0%", "25%", "50%", "75%", "100%"])
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="lower right", fontsize=10, frameon=False)
    ax.set_title(spec.title, loc="left", fontsize=12, color=TEXT)
    figure.subplots_adjust(
        left=0.2, right=0.98, top=1 - 0.45 / spec.height_inches, bottom=0.35 / spec.height_inches
    )


# Responses per day -----------------------------------------------------------------


def daily_spec(days: list[date], series: dict[str, list[int]], *, title: str) -> ChartSpec:
    """Responses per day, stacked by audience, with each day's total above its bar."""
    totals = [sum(counts[n] for counts in series.values()) for n in range(len(days))]
    if days:
        busiest = int(np.argmax(totals))
        noun = "response" if sum(totals) == 1 else "responses"
        alt = (
            f"{title}: {sum(totals):,} {noun} from {days[0]:%d %b} to {days[-1]:%d %b}; "
            f"the busiest day was {days[busiest]:%d %b} with {totals[busiest]:,}. "
            + " ".join(f"{name}: {sum(counts):,}." for name, counts in series.items())
        )
    else:
        alt = f"{title}: no days to show."
    return ChartSpec(
        name="daily",
        kind="daily",
        title=title,
        data={"days": [day.isoformat() for day in days], "series": series},
        alt=alt,
        height_inches=3.6,
    )


def _draw_daily(figure: Figure, spec: ChartSpec) -> None:
    days = [date.fromisoformat(day) for day in spec.data["days"]]
    series = spec.data["series"]
    ax = figure.subplots()
    positions = np.arange(len(days))
    bottom = np.zeros(len(days))
    for n, (name, counts) in enumerate(series.items()):
        values = np.asarray(counts, dtype=float)
        colour = AUDIENCE_COLOURS[n % len(AUDIENCE_COLOURS)]
        ax.bar(positions, values, 0.7, bottom=bottom, color=colour, label=name)
        bottom += values
    top = max(float(bottom.max()) if len(bottom) else 0.0, 1.0)
    for x, total in zip(positions, bottom, strict=True):
        ax.text(x, total + top * 0.02, f"{int(total):,}", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, top * 1.3)
    ax.set_xticks(positions, labels=[f"{day:%a}\n{day.day} {day:%b}" for day in days])
    ax.tick_params(axis="x", labelsize=9, length=0)
    ax.set_ylabel("responses")
    ax.legend(loc="upper left", fontsize=9, frameon=False, ncols=min(len(series), 4) or 1)
    ax.set_title(spec.title, loc="left", fontsize=12, color=TEXT)
    figure.subplots_adjust(left=0.08, right=0.99, top=0.9, bottom=0.17)


# Observed against target shares ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StratumBar:
    value: str
    observed: float | None
    target: float
    under: bool


def strata_spec(
    name: str, attributes: list[tuple[str, list[StratumBar]]], *, title: str
) -> ChartSpec:
    """Observed share of participants next to the target share, per attribute value."""
    parts = []
    for label, bars in attributes:
        described = "; ".join(
            f"{bar.value} {_percent(bar.observed)} against {_percent(bar.target)}"
            + (" (under-covered)" if bar.under else "")
            for bar in bars
        )
        parts.append(f"{label}: {described}.")
    rows = sum(len(bars) for _, bars in attributes)
    return ChartSpec(
        name=name,
        kind="strata",
        title=title,
        data={
            "attributes": [
                [label, [dataclasses.asdict(bar) for bar in bars]] for label, bars in attributes
            ]
        },
        alt=f"{title}. Observed share of participants against target. " + " ".join(parts),
        height_inches=0.7 + 0.62 * rows + 0.55 * len(attributes),
    )


def _draw_strata(figure: Figure, spec: ChartSpec) -> None:
    """Under-covered strata are red, hatched and marked “under” in words, so the
    highlight does not rest on colour alone."""
    attributes = [
        (label, [StratumBar(**bar) for bar in bars]) for label, bars in spec.data["attributes"]
    ]
    axes = figure.subplots(
        len(attributes),
        1,
        squeeze=False,
        height_ratios=[max(len(bars), 1) for _, bars in attributes],
    )[:, 0]
    top = max([max(b.observed or 0.0, b.target) for _, bars in attributes for b in bars] + [0.1])
    for ax, (label, bars) in zip(axes, attributes, strict=True):
        positions = np.arange(len(bars))
        ax.barh(positions + 0.19, [bar.target for bar in bars], 0.36, color=GREY)
        ax.barh(
            positions - 0.19,
            [bar.observed or 0.0 for bar in bars],
            0.36,
            color=[RED if bar.under else BLUE for bar in bars],
            hatch=["///" if bar.under else "" for bar in bars],
            edgecolor="white",
            linewidth=0,
        )
        for y, bar in zip(positions, bars, strict=True):
            ax.text(
                (bar.observed or 0.0) + top * 0.01,
                y - 0.19,
                f"{_percent(bar.observed)} observed" + ("  ▼ under" if bar.under else ""),
                va="center",
                fontsize=10,
                color=RED if bar.under else TEXT,
                fontweight="bold" if bar.under else "normal",
            )
            ax.text(
                bar.target + top * 0.01,
                y + 0.19,
                f"{_percent(bar.target)} target",
                va="center",
                fontsize=10,
                color=MUTED,
            )
        ax.set_yticks(positions, labels=[bar.value for bar in bars])
        for tick, bar in zip(ax.get_yticklabels(), bars, strict=True):
            if bar.under:
                tick.set_color(RED)
                tick.set_fontweight("bold")
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.set_title(label, loc="left", fontsize=11, color=TEXT)
    figure.suptitle(spec.title, x=0.01, y=1 - 0.12 / spec.height_inches, ha="left", fontsize=12)
    figure.subplots_adjust(
        left=0.16,
        right=0.98,
        top=1 - 0.7 / spec.height_inches,
        bottom=0.35 / spec.height_inches,
        hspace=0.9 / max(sum(len(b) for _, b in attributes), 1) + 0.25,
    )


DRAW = {"progress": _draw_progress, "daily": _draw_daily, "strata": _draw_strata}


def render(spec: ChartSpec) -> bytes:
    """The chart as SVG bytes."""
    buffer = io.BytesIO()
    with drawing.style(RC):
        figure = Figure(figsize=(WIDTH, spec.height_inches), dpi=DPI)
        DRAW[spec.kind](figure, spec)
        figure.savefig(buffer, format="svg", metadata={"Date": None}, facecolor="white")
    return buffer.getvalue()
