"""Serving the next item in a campaign of 1,000,000 items (k=3): latency percentiles.

    .venv/bin/python benchmarks/next_item_benchmark.py --items 1000000 --requests 2000

Items and slots are generated in SQL. Then simulated annotators take turns:
each call of `assignment_next` leases an item and the response is submitted
through `response_submit`, so the measured calls see a realistic mix of filled
slots, live leases and items each participant has already done. Reports p50,
p95 and p99 of `assignment_next` alone, and the plan of the next-slot query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--participants", type=int, default=50)
    args = parser.parse_args()

    from benchmarks.common import bench_campaign, save_report

    campaign = bench_campaign(k=3)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from collection import selectors, services
    from collection.models import Campaign
    from collection.slots import campaign_sync_slots

    audience = campaign.audiences.get()
    audience_id = audience.pk
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO collection_item (campaign_id, external_id, prompt, payload,
                                         is_attention_check, created_at)
            SELECT %s, 'i' || n, 'Prompt ' || n,
                   '{"candidates": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}',
                   false, now()
            FROM generate_series(1, %s) AS n
            """,
            [campaign.pk, args.items],
        )
    campaign_sync_slots(campaign=campaign)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE collection_slot")
        cursor.execute("VACUUM ANALYZE collection_item")
    setup_seconds = time.perf_counter() - started
    Campaign.objects.filter(pk=campaign.pk).update(status="open")
    campaign.refresh_from_db()
    User = get_user_model()
    people = []
    for n in range(args.participants):
        participant = services.participant_get_or_create(
            user=User.objects.create(username=f"bench-{n}")
        )
        services.membership_join(participant=participant, audience=audience)
        services.consent_give(participant=participant, campaign=campaign)
        people.append(participant)
    latencies = []
    for n in range(args.requests):
        participant = people[n % len(people)]
        began = time.perf_counter()
        lease = services.assignment_next(participant=participant, campaign=campaign)
        latencies.append(time.perf_counter() - began)
        services.response_submit(
            participant=participant,
            assignment_id=lease.pk,
            payload={"choice": "a"},
            time_on_task_ms=1000,
            idempotency_key=uuid.uuid4(),
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + selectors.NEXT_FREE_SLOT_SQL,
            {
                "campaign": campaign.pk,
                "audience": audience_id,
                "now": timezone.now(),
                "participant": people[0].pk,
            },
        )
        plan = [row[0] for row in cursor.fetchall()]
    latencies.sort()
    report = {
        "items": args.items,
        "slots": args.items * 3,
        "setup_seconds": round(setup_seconds, 1),
        "requests": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 2),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        "plan": plan,
    }
    save_report("next_item", report)


if __name__ == "__main__":
    main()
