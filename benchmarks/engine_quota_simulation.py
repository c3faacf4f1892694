"""The engine's quotas, simulated as the outside round measured them (issue #15):
200 items with k=5 for one public audience with four age bands targeted at 25 %
each, a per-participant cap of 20, and arrivals skewed like a self-selected online
sample (55/25/15/5 %), or with the last band never arriving (then released by the
researcher after --release-after arrivals). Each arrival is a new member who asks
for items and answers them until the engine says no; sequential, and 8 threads.

It reports the total variation distance between the filled slots' groups and the
targets, slots left unfilled, and people turned away with nothing to do. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<any> \\
        .venv/bin/python benchmarks/engine_quota_simulation.py --seeds 3

`--seed 1 --seed 2` runs only those seeds. PLURALIGN_BENCH_DB names the bench
database (dropped and re-created), so parallel runs do not drop each other's.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import save_report
from benchmarks.quota_common import BANDS, NEVER, SKEWED, TARGET, setup


def campaign_for(name: str, items: int, k: int, cap: int):
    from collection import services
    from collection.models import Campaign

    audience = services.audience_create(
        slug=name,
        name=name,
        kind="public",
        attribute_schema=[{"name": "age", "label": "Age", "choices": BANDS}],
        target_marginals={"age": TARGET},
    )
    campaign = services.campaign_create(
        slug=name,
        name=name,
        item_kind="preference",
        targets={audience: k},
        per_participant_cap=cap,
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
    return audience, campaign


def arrive(audience, campaign, band: str, turned_away: list) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from collection import services
    from collection.models import Assignment

    try:
        user = get_user_model().objects.create_user(username=f"p-{uuid.uuid4().hex[:12]}")
        participant = services.participant_get_or_create(user=user)
        services.membership_join(
            participant=participant, audience=audience, attributes={"age": band}
        )
        services.consent_give(participant=participant, campaign=campaign)
        done = 0
        while isinstance(
            result := services.assignment_next(participant=participant, campaign=campaign),
            Assignment,
        ):
            services.response_submit(
                participant=participant,
                assignment_id=result.pk,
                payload={"choice": "a"},
                time_on_task_ms=1000,
                idempotency_key=uuid.uuid4(),
            )
            done += 1
        if done == 0:
            turned_away.append(band)
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def summary(campaign) -> dict:
    from collection.models import Response, Slot

    filled = Counter(
        Response.objects.filter(campaign=campaign).values_list(
            "participant__memberships__attributes__age", flat=True
        )
    )
    total = sum(filled.values())
    tvd = 0.5 * sum(abs(filled.get(b, 0) / total - TARGET[b]) for b in BANDS) if total else None
    return {
        "filled": total,
        "filled_by_band": {b: filled.get(b, 0) for b in BANDS},
        "tvd_to_target": round(tvd, 4) if tvd is not None else None,
        "unfilled": Slot.objects.filter(campaign=campaign, filled=False).count(),
    }


def run(name, *, shares, seed, threads, max_arrivals, release_after=None, items=200, k=5, cap=20):
    from collection import services

    audience, campaign = campaign_for(name, items, k, cap)
    rng = random.Random(seed)
    arrivals = [rng.choices(BANDS, weights=shares)[0] for _ in range(max_arrivals)]
    turned_away: list = []
    started = time.perf_counter()
    done = 0
    released = False
    while done < max_arrivals:
        if release_after is not None and not released and done >= release_after:
            services.campaign_release_quotas(campaign=campaign, audience=audience)
            released = True
        chunk = arrivals[done : done + max(threads, 1)]
        if threads <= 1:
            for band in chunk:
                arrive(audience, campaign, band, turned_away)
        else:
            workers = [
                threading.Thread(target=arrive, args=(audience, campaign, band, turned_away))
                for band in chunk
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        done += len(chunk)
        if summary(campaign)["unfilled"] == 0:
            break
    return {
        "run": name,
        "seed": seed,
        "threads": threads,
        "arrivals": done,
        "released_after": release_after,
        "turned_away": len(turned_away),
        "seconds": round(time.perf_counter() - started, 2),
        **summary(campaign),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="run seeds 0 .. SEEDS-1")
    parser.add_argument("--seed", type=int, action="append", help="run only this seed (repeatable)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-arrivals", type=int, default=1000)
    parser.add_argument("--release-after", type=int, default=200)
    args = parser.parse_args()
    setup()
    results = []
    for seed in args.seed or range(args.seeds):
        for threads in (1, args.threads):
            tag = f"s{seed}t{threads}"
            for name, shares, release in (
                (f"skewed-{tag}", SKEWED, None),
                (f"never-{tag}", NEVER, None),
                (f"never-released-{tag}", NEVER, args.release_after),
            ):
                results.append(
                    run(
                        name,
                        shares=shares,
                        seed=seed,
                        threads=threads,
                        max_arrivals=args.max_arrivals,
                        release_after=release,
                    )
                )
                row = results[-1]
                print(
                    f"{row['run']:>24}  arrivals {row['arrivals']:>5}  filled {row['filled']:>5}  "
                    f"TVD {row['tvd_to_target']}  unfilled {row['unfilled']:>4}  "
                    f"turned away {row['turned_away']:>4}  {row['seconds']} s",
                    flush=True,
                )
    save_report("engine_quota_simulation", {"runs": results})


if __name__ == "__main__":
    main()
