"""Plots for dataset cards (and later the dashboard), drawn from metrics data.

Deterministic PNGs: the Agg backend, a fixed size and dpi, and no "Software"
metadata (matplotlib writes no date into PNGs), so the same metrics give the
same bytes on the same installation.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from aggregation import drawing

DPI = 100
PNG_METADATA = {"Software": None}
PNG_OPTIONS = {"compress_level": 1}
COLOURS = ["#3b6ea5", "#e08a2e", "#4f9d69", "#b5485d", "#7a5ea8", "#8c7b4f"]


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI, metadata=PNG_METADATA, pil_kwargs=PNG_OPTIONS)


def _empty(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555")
    axes.set_axis_off()


def coverage(metrics: dict, path: Path) -> None:
    """Items at k per audience, then observed against target share per targeted attribute."""
    audiences = metrics["audiences"]
    targeted = [
        (slug, name, entry)
        for slug, report in audiences.items()
        for name, entry in report["coverage"]["attributes"].items()
        if any(row["target_share"] is not None for row in entry["values"])
    ]
    panels = 1 + len(targeted)
    figure = Figure(figsize=(5.5 * panels, 4.2))
    axes = figure.subplots(1, panels, squeeze=False)[0]
    names = list(audiences)
    shares = [audiences[slug]["coverage"]["share_at_k"] or 0.0 for slug in names]
    ax = axes[0]
    if names:
        positions = np.arange(len(names))
        ax.barh(positions, shares, color=COLOURS[0])
        ax.set_yticks(
            positions,
            labels=[f"{slug} (k={audiences[slug]['coverage']['overlap_k']})" for slug in names],
        )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of items with k responses")
        for y, share in zip(positions, shares, strict=True):
            ax.text(min(share + 0.02, 0.9), y, f"{share:.0%}", va="center", fontsize=9)
    else:
        _empty(ax, "no audiences")
    ax.set_title("Items at k")
    for ax, (slug, name, entry) in zip(axes[1:], targeted, strict=True):
        values = [str(row["value"]) for row in entry["values"]]
        observed = [row["observed_share"] or 0.0 for row in entry["values"]]
        target = [row["target_share"] or 0.0 for row in entry["values"]]
        positions = np.arange(len(values))
        ax.bar(positions - 0.2, observed, 0.4, label="observed", color=COLOURS[0])
        ax.bar(positions + 0.2, target, 0.4, label="target", color=COLOURS[1])
        for x, row in zip(positions, entry["values"], strict=True):
            if row["suppressed"]:
                ax.text(x - 0.2, 0.01, "small", rotation=90, fontsize=8, ha="center")
        ax.set_xticks(positions, labels=values, rotation=30, ha="right")
        ax.set_ylabel("share of participants")
        tvd = entry.get("total_variation_distance")
        ax.set_title(f"{slug}: {name}" + (f" (TVD {tvd:.2f})" if tvd is not None else ""))
        ax.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


TOO_FEW = "too few\noverlapping\njudgements"


def _agreement_groups(metrics: dict) -> list[tuple[str, dict]]:
    return [
        (f"{slug}\n{judgement}", values)
        for slug, report in metrics["audiences"].items()
        for judgement, values in (report.get("agreement") or {}).items()
    ]


def _alpha_levels(values: dict) -> list[str]:
    return [
        key.removeprefix("alpha_")
        for key in values
        if key.startswith("alpha_") and not key.endswith("_ci95")
    ]


def agreement(metrics: dict, path: Path) -> None:
    """Krippendorff's α (with its 95% bootstrap interval) and raw agreement per audience
    and judgement, each group labelled with the pairable units it rests on; a group
    below the minimum of pairable units shows "too few overlapping judgements"."""
    groups = _agreement_groups(metrics)
    labels = list(
        dict.fromkeys(
            [f"α {level}" for _, values in groups for level in _alpha_levels(values)]
            + ["agreement %"]
        )
    )
    figure = Figure(figsize=(max(8.0, 1.25 * len(groups)), 4.6))
    ax = figure.subplots()
    shown = [
        (g, values)
        for g, (_, values) in enumerate(groups)
        if not values.get("too_few_overlapping_judgements", True)
    ]
    if not groups:
        _empty(ax, "no item was judged twice in the same way yet")
    else:
        width = 0.8 / len(labels)
        lowest = -0.1
        for i, label in enumerate(labels):
            xs, ys, errors = [], [], [[], []]
            for g, values in shown:
                level = label.removeprefix("α ")
                value = (
                    values.get("percent_agreement")
                    if label == "agreement %"
                    else values.get(f"alpha_{level}")
                )
                if value is None:
                    continue
                xs.append(g + (i - (len(labels) - 1) / 2) * width)
                ys.append(value)
                interval = values.get(f"alpha_{level}_ci95") if label != "agreement %" else None
                low, high = interval if interval and None not in interval else (value, value)
                # A percentile interval need not hold its point estimate: clip at the bar.
                errors[0].append(max(0.0, value - low))
                errors[1].append(max(0.0, high - value))
                lowest = min(lowest, value - 0.05, low - 0.05)
            if xs:
                whiskers = (
                    {}
                    if label == "agreement %"
                    else {
                        "yerr": errors,
                        "capsize": 3,
                        "error_kw": {"elinewidth": 0.8, "ecolor": "#333333"},
                    }
                )
                ax.bar(xs, ys, width, label=label, color=COLOURS[i % len(COLOURS)], **whiskers)
        for g, (_, values) in enumerate(groups):
            if values.get("too_few_overlapping_judgements", True):
                ax.text(g, 0.5, TOO_FEW, ha="center", va="center", fontsize=7.5, color="#555555")
        ax.axhline(0.8, color="#999999", linewidth=0.8, linestyle="--")
        ax.axhline(0.667, color="#cccccc", linewidth=0.8, linestyle=":")
        ax.set_xticks(
            range(len(groups)),
            labels=[f"{name}\nn = {values.get('pairable_units', 0):,}" for name, values in groups],
            fontsize=8,
        )
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(lowest, 1.05)
        if shown:
            ax.legend(fontsize=8)
    ax.set_title(
        "Agreement within each audience (whiskers: 95% bootstrap interval; dashed: α = 0.8)\n"
        "n: units judged at least twice",
        fontsize=10,
    )
    figure.tight_layout()
    _save(figure, path)


def divergence(metrics: dict, path: Path) -> None:
    """Mean Jensen–Shannon divergence between audiences, and sources' Bradley–Terry strengths."""
    pluralism = metrics.get("pluralism") or {}
    names = list(metrics["audiences"])
    figure = Figure(figsize=(11, 4.5))
    left, right = figure.subplots(1, 2)
    matrix = np.full((len(names), len(names)), np.nan)
    shared = np.zeros((len(names), len(names)), dtype=int)
    for entry in pluralism.get("divergence", []):
        a, b = names.index(entry["audience_a"]), names.index(entry["audience_b"])
        if entry["mean_jsd"] is not None:
            matrix[a, b] = matrix[b, a] = entry["mean_jsd"]
            shared[a, b] = shared[b, a] = entry["shared_items"]
    for i in range(len(names)):
        matrix[i, i] = 0.0
    if len(names) < 2 or np.isnan(matrix).all():
        _empty(left, "one audience: nothing to compare")
    else:
        top = max(0.05, float(np.nanmax(matrix)))
        image = left.imshow(matrix, vmin=0, vmax=top, cmap="Oranges")
        left.set_xticks(range(len(names)), labels=names, rotation=30, ha="right")
        left.set_yticks(range(len(names)), labels=names)
        for i in range(len(names)):
            for j in range(len(names)):
                if i == j:
                    left.text(j, i, "0", ha="center", va="center", fontsize=8)
                elif not np.isnan(matrix[i, j]):
                    # Each mean with the number of shared items it averages over.
                    text = f"{matrix[i, j]:.3f}\nn = {shared[i, j]:,}"
                    colour = "white" if matrix[i, j] > 0.6 * top else "black"
                    left.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
        figure.colorbar(image, ax=left, shrink=0.8, label="mean JSD (bits)")
    left.set_title(
        "How differently audiences vote\n(mean JSD; n: items both voted on)", fontsize=10
    )
    strengths = pluralism.get("bradley_terry") or {}
    intervals = pluralism.get("bradley_terry_ci95") or {}
    sources = sorted({source for values in strengths.values() for source in values})
    if not sources:
        _empty(right, "no candidate sources to rank")
    else:
        width = 0.8 / max(len(strengths), 1)
        positions = np.arange(len(sources))
        for i, (slug, values) in enumerate(strengths.items()):
            ys = [values.get(source) or 0.0 for source in sources]
            bounds = [(intervals.get(slug) or {}).get(source) or [None, None] for source in sources]
            errors = [
                [
                    max(0.0, y - low) if low is not None else 0.0
                    for y, (low, _) in zip(ys, bounds, strict=True)
                ],
                [
                    max(0.0, high - y) if high is not None else 0.0
                    for y, (_, high) in zip(ys, bounds, strict=True)
                ],
            ]
            offset = (i - (len(strengths) - 1) / 2) * width
            right.bar(
                positions + offset,
                ys,
                width,
                yerr=errors,
                capsize=3,
                error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
                label=slug,
                color=COLOURS[i % len(COLOURS)],
            )
        right.axhline(0, color="#555555", linewidth=0.8)
        right.set_xticks(positions, labels=sources, rotation=20, ha="right")
        right.set_ylabel("Bradley–Terry log-strength")
        right.legend(fontsize=8)
    right.set_title(
        "Which sources each audience prefers\n(whiskers: 95% bootstrap interval)", fontsize=10
    )
    figure.tight_layout()
    _save(figure, path)


Drawer = tuple[str, Callable[[dict, Path], None]]
# On Linux the first plot is drawn in a forked child. The release's reading thread is gone
# by then; the child only draws (with matplotlib, numpy and PIL: no database, no Arrow)
# and leaves with os._exit, so it never closes the database connection it inherits; and
# a child that hangs is given up on (`_draw_in_two_processes`). Elsewhere (macOS
# frameworks dislike fork without exec, Windows has none) plots are drawn one by one.
CAN_FORK = sys.platform == "linux" and hasattr(os, "fork")
CHILD_SECONDS = 60  # a plot takes well under a second


def draw_all(directory: Path, *, metrics: dict, extra: Sequence[Drawer] = ()) -> list[str]:
    """Draw the card's plots, and the item kind's ``extra`` ones (`ReleaseKind.plots`),
    into ``directory``; return their file names.

    matplotlib holds the GIL while it lays out and renders, and a release has
    nothing else to do meanwhile, so on Linux a forked child draws the first
    plot while this process draws the others: the same code on the same
    state, so the same bytes, in about half the time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    drawers: list[Drawer] = [("coverage.png", coverage), ("agreement.png", agreement), *extra]
    # matplotlib's defaults, whatever another thread or an earlier drawing left set
    # (`aggregation.drawing`); the forked child inherits them with the lock held.
    with drawing.style():
        if CAN_FORK:
            _draw_in_two_processes(drawers, directory, metrics)
        else:
            for name, draw in drawers:
                draw(metrics, directory / name)
    return [name for name, _ in drawers]


def _draw_in_two_processes(drawers: list[Drawer], directory: Path, metrics: dict) -> None:
    """The child draws the first plot; this process the others, then waits for it.

    A child that has not finished after CHILD_SECONDS (it could only hang on a lock
    some other thread of this process held when it forked, say a dashboard chart being
    drawn in a web server's thread when releases run in-process) is killed and its
    plot drawn here instead. A child that fails fails the build, with its error.
    """
    (first, draw_first), rest = drawers[0], drawers[1:]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: draw, report any error through the pipe, leave at once
        status = 1
        try:
            os.close(reader)
            draw_first(metrics, directory / first)
            status = 0
        except BaseException:
            os.write(writer, traceback.format_exc().encode()[-4000:])
        finally:
            os._exit(status)
    os.close(writer)
    status = None
    try:
        for name, draw in rest:
            draw(metrics, directory / name)
        deadline = time.monotonic() + CHILD_SECONDS
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
            if status is None:
                time.sleep(0.005)
    finally:
        if status is None:  # gave up on it (or this process failed): leave no child
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        with os.fdopen(reader, "rb") as pipe:
            error = pipe.read().decode(errors="replace")
    if status is None:
        draw_first(metrics, directory / first)
    elif status != 0:
        raise RuntimeError(
            f"drawing {first} failed (exit status {os.waitstatus_to_exitcode(status)}): "
            f"{error.strip() or 'no error text'}"
        )
