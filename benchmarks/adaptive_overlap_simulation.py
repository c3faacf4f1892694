"""Adaptive overlap, simulated through the real engine (issue #15, item 3): does spending
extra judgements where audiences disagree estimate the between-audience divergence
better than a fixed k, at the same budget?

Two audiences of simulated annotators with known per-item preferences over two
candidates: half the items *agreed* (both audiences choose A with the same
probability, drawn from U(0.15, 0.85)), half *divergent* (one audience chooses A with
p ~ U(0.7, 0.95), the other with 1 − p). The true Jensen–Shannon divergence of each
item is computed from these probabilities (`aggregation.metrics.jensen_shannon`).

Each arm runs a campaign on a scratch database with the real engine
(`assignment_next`, `response_submit`) and, for the adaptive arm, the real pass
(`aggregation.allocation.adaptive_overlap_allocate`, run after every annotator as beat
would between them). New annotators arrive one at a time and answer up to --cap items
until the audience has spent its budget, which is the fixed arm's total (items × k).

It reports, per arm and seed, the error of the estimated per-item JSD (plug-in, from
vote shares) against the truth: mean absolute error and RMSE over all items and over
the divergent ones, the error of the mean JSD, the judgements spent, and what share of
the extra judgements went to truly divergent items. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<any> PLURALIGN_BENCH_DB=<scratch> \\
        .venv/bin/python benchmarks/adaptive_overlap_simulation.py --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import save_report
from benchmarks.quota_common import setup


def true_preferences(items: int, rng: np.random.Generator) -> np.ndarray:
    """items × 2 audiences: the probability of choosing candidate A."""
    p = np.empty((items, 2))
    half = items // 2
    shared = rng.uniform(0.15, 0.85, size=half)
    p[:half, 0] = p[:half, 1] = shared
    strong = rng.uniform(0.7, 0.95, size=items - half)
    p[half:, 0], p[half:, 1] = strong, 1 - strong
    return p


def jsd_of(p: np.ndarray) -> np.ndarray:
    from aggregation.metrics import jensen_shannon

    return jensen_shannon(np.c_[p[:, 0], 1 - p[:, 0]], np.c_[p[:, 1], 1 - p[:, 1]])


def make_campaign(name: str, items: int, k: int, adaptive: dict | None, cap: int):
    from collection import services
    from collection.models import Campaign

    audiences = [
        services.audience_create(slug=f"{name}-{side}", name=side, kind="mass")
        for side in ("left", "right")
    ]
    campaign = services.campaign_create(
        slug=name,
        name=name,
        item_kind="preference",
        targets={audience: k for audience in audiences},
        per_participant_cap=cap,
        adaptive=services.AdaptiveSetting(**adaptive) if adaptive else None,
    )
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": f"Question {n}?",
                "payload": {"candidates": [{"id": "a", "text": "Yes"}, {"id": "b", "text": "No"}]},
            }
            for n in range(items)
        ],
    )
    services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    return campaign, audiences


def run_arm(
    name: str, *, p: np.ndarray, k: int, budget: int, adaptive: dict | None, seed: int, cap: int
) -> dict:
    from django.contrib.auth import get_user_model

    from aggregation.allocation import adaptive_overlap_allocate
    from collection import services
    from collection.models import Response

    rng = np.random.default_rng(seed + 1000)
    items = len(p)
    campaign, audiences = make_campaign(name, items, k, adaptive, cap)
    position = {
        item_id: n
        for n, item_id in enumerate(campaign.items.order_by("id").values_list("id", flat=True))
    }
    spent = [0, 0]
    started = time.perf_counter()
    stalled = 0
    while min(spent) < budget and stalled < 3:
        before = list(spent)
        for side, audience in enumerate(audiences):
            if spent[side] >= budget:
                continue
            user = get_user_model().objects.create_user(username=f"{name}-{uuid.uuid4().hex[:10]}")
            person = services.participant_get_or_create(user=user)
            services.membership_join(participant=person, audience=audience, attributes={})
            services.consent_give(participant=person, campaign=campaign)
            while spent[side] < budget and not isinstance(
                lease := services.assignment_next(participant=person, campaign=campaign),
                services.NoItem,
            ):
                choice = "a" if rng.random() < p[position[lease.item_id], side] else "b"
                services.response_submit(
                    participant=person,
                    assignment_id=lease.pk,
                    payload={"choice": choice},
                    time_on_task_ms=1000,
                    idempotency_key=uuid.uuid4(),
                )
                spent[side] += 1
        if adaptive:
            adaptive_overlap_allocate(campaign=campaign)
        stalled = stalled + 1 if spent == before else 0
    seconds = time.perf_counter() - started

    counts = np.zeros((items, 2, 2))
    for item_id, audience_id, payload in Response.objects.filter(campaign=campaign).values_list(
        "item_id", "audience_id", "payload"
    ):
        side = 0 if audience_id == audiences[0].pk else 1
        counts[position[item_id], side, 0 if payload["choice"] == "a" else 1] += 1
    per_item = counts.sum(axis=2)
    estimate = jsd_of(counts[:, :, 0] / per_item)
    truth = jsd_of(p)
    error = estimate - truth
    divergent = np.arange(items) >= items // 2
    extra = np.clip(per_item - k, 0, None).sum(axis=1)
    return {
        "arm": name.split("-")[0],
        "seed": seed,
        "judgements": int(per_item.sum()),
        "judgements_per_item_agreed": round(float(per_item[~divergent].sum(axis=1).mean()), 2),
        "judgements_per_item_divergent": round(float(per_item[divergent].sum(axis=1).mean()), 2),
        "extra_share_on_divergent": round(float(extra[divergent].sum() / extra.sum()), 3)
        if extra.sum()
        else None,
        "mae_all": round(float(np.abs(error).mean()), 4),
        "rmse_all": round(float(np.sqrt((error**2).mean())), 4),
        "mae_divergent": round(float(np.abs(error[divergent]).mean()), 4),
        "rmse_divergent": round(float(np.sqrt((error[divergent] ** 2).mean())), 4),
        "mae_agreed": round(float(np.abs(error[~divergent]).mean()), 4),
        "mean_jsd_error": round(float(estimate.mean() - truth.mean()), 4),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--k", type=int, default=5, help="the fixed arm's k (sets the budget)")
    parser.add_argument("--base-k", type=int, default=3)
    parser.add_argument("--max-k", type=int, default=11)
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--cap", type=int, default=30)
    parser.add_argument(
        "--jsd-thresholds",
        default="0.2",
        help="comma-separated: one adaptive arm per divergence threshold",
    )
    args = parser.parse_args()
    setup()
    budget = args.items * args.k
    arms = [("fixed", args.k, None)] + [
        (
            f"adaptive{round(float(threshold) * 100):02d}",  # slug-safe: adaptive05 is 0.05
            args.base_k,
            {
                "max_k": args.max_k,
                "step": args.step,
                "rule": "divergence",
                "jsd_threshold": float(threshold),
            },
        )
        for threshold in args.jsd_thresholds.split(",")
    ]
    runs = []
    for seed in range(args.seeds):
        p = true_preferences(args.items, np.random.default_rng(seed))
        for arm, k, setting in arms:
            row = run_arm(
                f"{arm}-s{seed}", p=p, k=k, budget=budget, adaptive=setting, seed=seed, cap=args.cap
            )
            runs.append(row)
            print(row, flush=True)
    summary = {}
    for arm, _, _ in arms:
        rows = [row for row in runs if row["arm"] == arm]
        summary[arm] = {
            metric: {
                "mean": round(statistics.mean(row[metric] for row in rows), 4),
                "sd": round(statistics.stdev(row[metric] for row in rows), 4)
                if len(rows) > 1
                else 0.0,
            }
            for metric in (
                "judgements",
                "judgements_per_item_agreed",
                "judgements_per_item_divergent",
                "mae_all",
                "rmse_all",
                "mae_divergent",
                "rmse_divergent",
                "mae_agreed",
                "mean_jsd_error",
            )
        }
    report = {
        "items": args.items,
        "budget_per_audience": budget,
        "fixed_k": args.k,
        "adaptive": {"base_k": args.base_k, "max_k": args.max_k, "step": args.step},
        "runs": runs,
        "summary": summary,
    }
    save_report("adaptive_overlap_simulation", report)


if __name__ == "__main__":
    main()
