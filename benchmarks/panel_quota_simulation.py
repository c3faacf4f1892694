"""Quotas at panel entry, simulated: skewed arrivals, a group that never arrives,
sequential and concurrent entrants, through the services the entry pages call.

A public audience with four age bands targeted at 25 % each; a panel study of
--places places (quotas one attribute at a time: ceil(places x share) per band);
arrivals drawn like a self-selected online sample (55/25/15/5 %, or with the last
band never arriving), until every place is taken or --max-arrivals people came.
For each run it reports the total variation distance between the placed sample
and the targets, places left unfilled, and people turned away over quota, and,
for the group that never arrives, the same after the researcher releases the
quotas. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<any> \\
        .venv/bin/python benchmarks/panel_quota_simulation.py --places 200 --seeds 3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import bench_database_url, save_report

BANDS = ["18-29", "30-44", "45-64", "65+"]
TARGET = {band: 0.25 for band in BANDS}
SKEWED = [0.55, 0.25, 0.15, 0.05]
NEVER = [0.60, 0.25, 0.15, 0.0]


def setup():
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def study_for(name: str, places: int):
    from django.contrib.auth import get_user_model

    from collection import services
    from collection.models import Campaign
    from panels import services as panels

    owner = get_user_model().objects.create_user(username=f"owner-{name}")
    audience = services.audience_create(
        slug=name,
        name=name,
        kind="public",
        attribute_schema=[{"name": "age", "label": "Age", "choices": BANDS}],
        target_marginals={"age": TARGET},
    )
    campaign = services.campaign_create(
        slug=name, name=name, item_kind="preference", targets={audience: 3}
    )
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": f"Question {n}?",
                "payload": {"candidates": [{"id": "a", "text": "Yes"}, {"id": "b", "text": "No"}]},
            }
            for n in range(10)
        ],
    )
    services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
    return panels.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel="generic",
        name=name,
        places=places,
        created_by=owner,
    )


def arrive(study, pid: str, band: str) -> str:
    from django.db import connection

    from collection import services
    from panels import services as panels

    try:
        entrant = panels.panel_enter(study=study, external_id=pid, panel_ids={}, given={})
        services.consent_give(participant=entrant.participant, campaign=study.campaign)
        return panels.panel_screen(entrant=entrant, attributes={"age": band}).status
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def placed_summary(study) -> dict:
    from panels.models import PanelEntrant

    placed = Counter(
        cell.get("age")
        for cell in PanelEntrant.objects.filter(study=study, status="working").values_list(
            "cell", flat=True
        )
    )
    total = sum(placed.values())
    tvd = 0.5 * sum(abs(placed.get(b, 0) / total - TARGET[b]) for b in BANDS) if total else None
    return {
        "placed": total,
        "placed_by_band": {b: placed.get(b, 0) for b in BANDS},
        "tvd_to_target": round(tvd, 4) if tvd is not None else None,
        "unfilled": study.places - total,
        "turned_away_over_quota": PanelEntrant.objects.filter(
            study=study, status="overquota"
        ).count(),
    }


def run(name, *, places, shares, seed, threads, max_arrivals, release_after=None):
    from panels import services as panels

    study = study_for(name, places)
    rng = random.Random(seed)
    arrivals = [rng.choices(BANDS, weights=shares)[0] for _ in range(max_arrivals)]
    started = time.perf_counter()
    done = 0
    batch = max(threads, 1) * 4
    while done < max_arrivals:
        if release_after is not None and done >= release_after and study.quotas_released_at is None:
            study = panels.panel_study_release_quotas(study=study)
        chunk = arrivals[done : done + batch]
        if threads <= 1:
            for i, band in enumerate(chunk):
                arrive(study, f"{seed}-{done + i}", band)
        else:
            workers = [
                threading.Thread(target=arrive, args=(study, f"{seed}-{done + i}", band))
                for i, band in enumerate(chunk)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        done += len(chunk)
        if placed_summary(study)["unfilled"] == 0:
            break
    return {
        "run": name,
        "seed": seed,
        "threads": threads,
        "arrivals": done,
        "released_after": release_after,
        "seconds": round(time.perf_counter() - started, 2),
        **placed_summary(study),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--places", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    setup()
    max_arrivals = args.places * 6
    results = []
    for seed in range(args.seeds):
        for threads in (1, args.threads):
            tag = f"s{seed}t{threads}"
            results.append(
                run(
                    f"skewed-{tag}",
                    places=args.places,
                    shares=SKEWED,
                    seed=seed,
                    threads=threads,
                    max_arrivals=max_arrivals,
                )
            )
            results.append(
                run(
                    f"never-{tag}",
                    places=args.places,
                    shares=NEVER,
                    seed=seed,
                    threads=threads,
                    max_arrivals=args.places * 3,
                )
            )
            results.append(
                run(
                    f"never-released-{tag}",
                    places=args.places,
                    shares=NEVER,
                    seed=seed,
                    threads=threads,
                    max_arrivals=args.places * 3,
                    release_after=args.places * 2,
                )
            )
    for row in results:
        print(
            f"{row['run']:>24}  arrivals {row['arrivals']:>5}  placed {row['placed']:>4}  "
            f"TVD {row['tvd_to_target']}  unfilled {row['unfilled']:>4}  "
            f"over quota {row['turned_away_over_quota']:>5}  {row['seconds']} s"
        )
    save_report("panel_quota_simulation", {"places": args.places, "runs": results})


if __name__ == "__main__":
    main()
