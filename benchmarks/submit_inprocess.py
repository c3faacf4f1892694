"""One submit-and-next request in-process: statements (round trips) and wall time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> DJANGO_DEBUG=false \\
        .venv/bin/python benchmarks/submit_inprocess.py --requests 500

Runs against a database the submission benchmark has set up (campaign "bench",
its items open): makes one more participant with a token, then sends
``--requests`` submissions through Django's full stack (middleware, auth, the
view, the engine; no HTTP socket) with the Django test client, counting every
statement sent to PostgreSQL (``connection.execute_wrapper``, which sees
each round trip including the transaction's savepoints, but not BEGIN and
COMMIT, which psycopg sends itself: add 2 for the real count) and timing each
request on the wall clock and in this process's CPU time, and the CPU time
of the PostgreSQL backend serving it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--show-statements", action="store_true")
    parser.add_argument(
        "--server-side-binding",
        action="store_true",
        help="measure with psycopg server-side binding (prepared after 5 runs)",
    )
    parser.add_argument("--profile", help="write a cProfile of the requests to this file")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    import psutil

    django.setup()
    if args.server_side_binding:
        from django.conf import settings

        settings.DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from collection import services
    from collection.models import Audience, Campaign

    campaign = Campaign.objects.get(slug="bench")
    audience = Audience.objects.get(slug="bench")
    user = get_user_model().objects.create(username=f"inprocess-{uuid.uuid4().hex[:8]}")
    participant = services.participant_get_or_create(user=user)
    services.membership_join(participant=participant, audience=audience)
    services.consent_give(participant=participant, campaign=campaign)
    key = services.api_token_create(user=user, name="inprocess")[1]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {key}")
    body = client.post("/api/v1/campaigns/bench/next/").json()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    backend_started = sum(backend.cpu_times()[:2])
    statements: list[int] = []
    texts: collections.Counter = collections.Counter()
    wall, cpu = [], []

    def count(execute, sql, params, many, context):
        statements[-1] += 1
        if args.show_statements:
            texts[re.sub(r"_x\d+", "_x<n>", " ".join(sql.split())[:90])] += 1
        return execute(sql, params, many, context)

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with connection.execute_wrapper(count):
        for _ in range(args.requests):
            if not body.get("assignment"):
                break
            statements.append(0)
            started, cpu_started = time.perf_counter(), time.process_time()
            reply = client.post(
                f"/api/v1/assignments/{body['assignment']}/submit/",
                {
                    "payload": {"choice": "a"},
                    "time_on_task_ms": 1000,
                    "idempotency_key": str(uuid.uuid4()),
                },
                content_type="application/json",
            )
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            if reply.status_code not in (200, 201):
                raise SystemExit(f"submission answered {reply.status_code}: {reply.content!r}")
            body = reply.json()["next"]
    backend_cpu = sum(backend.cpu_times()[:2]) - backend_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    report = {
        "requests": len(wall),
        "statements_per_request": round(statistics.mean(statements), 2),
        "wall_ms_p50": round(1000 * statistics.median(wall), 2),
        "wall_ms_mean": round(1000 * statistics.mean(wall), 2),
        "python_cpu_ms_mean": round(1000 * statistics.mean(cpu), 2),
        "postgres_cpu_ms_mean": round(1000 * backend_cpu / max(len(wall), 1), 2),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    if args.show_statements:
        report["statements"] = {text: round(n / len(wall), 2) for text, n in texts.most_common()}
    print(json.dumps(report, indent=2 if args.show_statements else None))


if __name__ == "__main__":
    main()
