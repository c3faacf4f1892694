"""Coverage dashboard at scale: page times for a campaign of 1,000,000 responses.

Generates the data with `release_benchmark.generate` (N preference judgements over
four audiences: mass, two public with age targets, one group; INSERT ... SELECT
generate_series), then adds what a live campaign also has: one slot per place
(k = 6 per item and audience, five of them filled) and submission times spread
over the last 20 days. Then, on the same database:

1. runs the periodic check once (`monitoring.services.alerts_check_all`: every metric through
   `campaign_metrics`, the busiest participants, alerts), which stores the
   metrics the pages read;
2. times the admin dashboard and the researcher's campaign page through Django's
   test client, cold (empty Django cache) and warm, and fetching every chart of
   the page (cold: drawn; warm: cached);
3. prints EXPLAIN ANALYZE of a page's live queries (slots; responses per day
   since the check) and of the check's query over the whole 14-day window.

Usage (a database of its own; the script creates it and empties the collection
tables):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pluralign_dash_bench \\
        .venv/bin/python benchmarks/dashboard_benchmark.py --judgements 1000000

The numbers are written between the dashboard markers of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

README = HERE / "README.md"
RESULTS = HERE / "results" / "dashboard.json"
START, END = "<!-- dashboard-benchmark:start -->", "<!-- dashboard-benchmark:end -->"
SLOTS_PER_ITEM = 6  # k: five of the six places are filled by the generated responses
SPREAD_DAYS = 20
REPEAT = 3
SINCE_CHECK = 2_000  # responses dated after the check, as between two checks


def create_database(url: str) -> None:
    """CREATE DATABASE when the one in DATABASE_URL does not exist yet."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def add_slots_and_times(campaign) -> None:
    """Slots as the engine keeps them, and submission times over the last days."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE collection_campaignaudience SET overlap_k = %s WHERE campaign_id = %s",
            [SLOTS_PER_ITEM, campaign.pk],
        )
        cursor.execute(
            """
            INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
            SELECT %(campaign)s, t.audience_id, i.id, s, s < 5
            FROM collection_item i
            CROSS JOIN collection_campaignaudience t
            CROSS JOIN generate_series(0, %(k)s - 1) AS s
            WHERE i.campaign_id = %(campaign)s AND t.campaign_id = %(campaign)s
            """,
            {"campaign": campaign.pk, "k": SLOTS_PER_ITEM},
        )
        cursor.execute(
            """
            UPDATE collection_response
            SET created_at = now() - ((id * 7919) %% (%(days)s * 86400)) * interval '1 second'
            WHERE campaign_id = %(campaign)s
            """,
            {"campaign": campaign.pk, "days": SPREAD_DAYS},
        )
    connection.close()
    # Outside a transaction: VACUUM sets the visibility map, ANALYZE the statistics.
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as raw:
        raw.execute("VACUUM ANALYZE collection_response")
        raw.execute("VACUUM ANALYZE collection_slot")


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def page_times(client, url: str) -> dict:
    """Cold (empty cache) and warm times of a page, and of fetching all its charts."""
    from django.core.cache import cache

    colds, warms, chart_colds, chart_warms, sizes = [], [], [], [], []
    charts: list[str] = []
    for _ in range(REPEAT):
        cache.clear()
        started = time.perf_counter()
        response = client.get(url)
        colds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        html = response.content.decode()
        sizes.append(len(response.content))
        charts = [src.replace("&amp;", "&") for src in re.findall(r'<img src="([^"]+)"', html)]
        started = time.perf_counter()
        for src in charts:
            assert client.get(src).status_code == 200
        chart_colds.append(time.perf_counter() - started)
        warms.append(timed(lambda: client.get(url)))
        started = time.perf_counter()
        for src in charts:
            client.get(src)
        chart_warms.append(time.perf_counter() - started)
    return {
        "cold_s": statistics.median(colds),
        "warm_s": statistics.median(warms),
        "charts": len(charts),
        "charts_cold_s": statistics.median(chart_colds),
        "charts_warm_s": statistics.median(chart_warms),
        "html_kb": round(statistics.median(sizes) / 1024),
    }


def explain(campaign) -> dict[str, str]:
    """Plans of the live queries: slots (every page), responses per day since the last
    check (every page) and over the whole window (the check)."""
    from django.db import connection
    from django.utils import timezone

    from aggregation.models import MetricsSnapshot
    from aggregation.monitoring import selectors as monitoring

    days = monitoring.last_days(timezone.localdate())
    since_check = MetricsSnapshot.objects.get(campaign=campaign).daily["until"]
    per_day = """
        SELECT audience_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*)
        FROM collection_response
        WHERE campaign_id = %s AND created_at >= %s AND withdrawn_at IS NULL
        GROUP BY audience_id, day
    """
    queries = {
        "slots": (
            """
            SELECT audience_id, count(*), count(*) FILTER (WHERE filled),
                   count(*) FILTER (WHERE NOT filled AND lease_expires_at >= now())
            FROM collection_slot WHERE campaign_id = %s GROUP BY audience_id
            """,
            [campaign.pk],
        ),
        "per_day_since_check": (per_day, [campaign.pk, since_check]),
        "per_day_window": (per_day, [campaign.pk, days[0]]),
    }
    plans = {}
    with connection.cursor() as cursor:
        for name, (sql, params) in queries.items():
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def write_readme(result: dict) -> None:
    """Replace the numbers between the dashboard markers of benchmarks/README.md."""
    rows = [
        ("admin dashboard (`/dashboard/`)", result["pages"]["dashboard"]),
        ("campaign page (`/campaigns/<slug>/`)", result["pages"]["campaign"]),
    ]
    lines = [
        START,
        f"Measured {result['date']} on {result['machine']}: {result['responses']:,} responses, "
        f"{result['items']:,} items, {result['slots']:,} slots, four audiences (Django test "
        f"client in the same process; median of {REPEAT}).",
        "",
        "| page | cold cache | warm cache | charts on the page | all charts cold / warm | HTML |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, numbers in rows:
        lines.append(
            f"| {label} | {numbers['cold_s'] * 1000:.0f} ms | {numbers['warm_s'] * 1000:.0f} ms "
            f"| {numbers['charts']} | {numbers['charts_cold_s'] * 1000:.0f} ms / "
            f"{numbers['charts_warm_s'] * 1000:.0f} ms | {numbers['html_kb']} KB |"
        )
    lines += [
        "",
        f"The periodic check that stores the metrics (`manage.py record_alerts`): "
        f"{result['check_s']:.1f} s for this campaign; a page view of a campaign this large "
        f"never runs it. The live queries of a page (EXPLAIN ANALYZE): slots "
        f"{result['slots_ms']:.0f} ms, responses per day since the check "
        f"{result['per_day_since_check_ms']:.0f} ms for {SINCE_CHECK:,} responses that came in "
        f"after it (the check's query over the whole "
        f"14-day window takes {result['per_day_window_ms']:.0f} ms).",
        END,
    ]
    text = README.read_text(encoding="utf-8")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + "\n".join(lines) + after
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgements", type=int, default=1_000_000)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data")
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a database of its own (see the docstring).")
    create_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from aggregation.monitoring import services as monitoring
    from collection.models import Campaign, Response, Slot

    setup_test_environment()  # the test client's host, and a local-memory e-mail outbox
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.skip_generate:
        campaign = Campaign.objects.get(slug="bench-release")
    else:
        import release_benchmark

        campaign, _ = release_benchmark.generate(args.judgements)
        add_slots_and_times(campaign)
    responses = Response.objects.filter(campaign=campaign).count()
    items = campaign.items.count()
    slots = Slot.objects.filter(campaign=campaign).count()
    print(
        f"data: {responses:,} responses, {items:,} items, {slots:,} slots "
        f"({time.perf_counter() - started:.1f} s to generate)"
    )

    check = timed(lambda: monitoring.alerts_check_all())
    print(f"periodic check (metrics, busiest participants, alerts): {check:.1f} s")
    for alert in campaign.alerts.filter(resolved_at__isnull=True):
        print(f"  alert: {alert.message}")
    # Responses keep arriving between checks: date some after it, for pages to add.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE collection_response SET created_at = now() WHERE id IN "
            "(SELECT id FROM collection_response WHERE campaign_id = %s ORDER BY id LIMIT %s)",
            [campaign.pk, SINCE_CHECK],
        )

    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    pages = {
        "dashboard": page_times(client, "/dashboard/"),
        "campaign": page_times(client, f"/campaigns/{campaign.slug}/"),
    }
    for name, numbers in pages.items():
        print(
            f"{name}: cold {numbers['cold_s'] * 1000:.0f} ms, warm {numbers['warm_s'] * 1000:.0f} "
            f"ms; {numbers['charts']} charts cold {numbers['charts_cold_s'] * 1000:.0f} ms, warm "
            f"{numbers['charts_warm_s'] * 1000:.0f} ms; HTML {numbers['html_kb']} KB"
        )
    plans = explain(campaign)
    times = {}
    for name, plan in plans.items():
        print(f"\nEXPLAIN ANALYZE {name}:\n{plan}")
        times[name] = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0].split()[0]
    import psutil

    memory = psutil.virtual_memory().total / 2**30
    result = {
        "date": timezone.localdate().isoformat(),
        "machine": f"{os.cpu_count()} cores, {memory:.0f} GB RAM, Python "
        f"{platform.python_version()}, PostgreSQL {server} on the same machine",
        "responses": responses,
        "items": items,
        "slots": slots,
        "check_s": check,
        "pages": pages,
        "slots_ms": times["slots"],
        "per_day_since_check_ms": times["per_day_since_check"],
        "per_day_window_ms": times["per_day_window"],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_readme(result)
        print(f"\nwrote {README.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
