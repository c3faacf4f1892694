"""What adaptive overlap's pass costs the database (issue #15: it must not push the hot
path back down): a campaign of --items items over two audiences at k=3 with every slot
filled (responses written in SQL, half the items divergent), then the first pass (a
full look: every item is decided), and a second pass with nothing new (the watermark:
only items answered since the first, less a minute; the responses are an hour old).
Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<any> PLURALIGN_BENCH_DB=<scratch> \\
        .venv/bin/python benchmarks/adaptive_pass_benchmark.py --items 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import save_report
from benchmarks.quota_common import setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    args = parser.parse_args()
    setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from aggregation.allocation import adaptive_overlap_allocate
    from collection import services

    audiences = [
        services.audience_create(slug=f"pass-{side}", name=side, kind="mass")
        for side in ("left", "right")
    ]
    campaign = services.campaign_create(
        slug="pass",
        name="pass",
        item_kind="preference",
        targets={audience: 3 for audience in audiences},
        adaptive=services.AdaptiveSetting(max_k=9),
    )
    started = time.perf_counter()
    services.items_create(
        campaign=campaign,
        rows=[
            {
                "prompt": f"Question {n}?",
                "payload": {"candidates": [{"id": "a", "text": "Yes"}, {"id": "b", "text": "No"}]},
            }
            for n in range(args.items)
        ],
    )
    people = []
    for side, audience in enumerate(audiences):
        for n in range(3):
            user = get_user_model().objects.create_user(username=f"pass-{side}-{n}")
            person = services.participant_get_or_create(user=user)
            services.membership_join(participant=person, audience=audience, attributes={})
            people.append((person.pk, audience.pk, side))
    with connection.cursor() as cursor:
        for participant, audience, side in people:
            # Left always "a"; right "b" on odd items: half the items divergent.
            cursor.execute(
                """
                INSERT INTO collection_response (campaign_id, audience_id, item_id,
                    participant_id, payload, time_on_task_ms, idempotency_key, created_at,
                    review)
                SELECT %s, %s, i.id, %s,
                    jsonb_build_object('choice', CASE WHEN %s = 1 AND i.id %% 2 = 1
                                                 THEN 'b' ELSE 'a' END),
                    1000, gen_random_uuid(), now() - interval '1 hour', ''
                FROM collection_item i WHERE i.campaign_id = %s
                """,
                [campaign.pk, audience, participant, side, campaign.pk],
            )
        cursor.execute(
            "UPDATE collection_slot SET filled = true WHERE campaign_id = %s", [campaign.pk]
        )
        cursor.execute("ANALYZE collection_slot; ANALYZE collection_response")
    setup_seconds = time.perf_counter() - started
    timings = []
    for name in ("first pass (full look)", "second pass (nothing new)"):
        started = time.perf_counter()
        result = adaptive_overlap_allocate(campaign=campaign)
        timings.append(
            {"pass": name, "seconds": round(time.perf_counter() - started, 3), **vars(result)}
        )
        print(timings[-1], flush=True)
    save_report(
        "adaptive_pass_benchmark",
        {"items": args.items, "setup_seconds": round(setup_seconds, 1), "passes": timings},
    )


if __name__ == "__main__":
    main()
