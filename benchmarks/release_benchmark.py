"""Release building at scale: rows per second against COPY, and peak memory.

Generates N preference judgements over four audiences straight in the database
(INSERT ... SELECT generate_series), then, on the same database:

1. times ``COPY (<the joined judgement rows>) TO STDOUT``: every judgement with
   its audience, participant attributes, prompt and both candidates' text and
   source, which is what a naive export would read (three times, warm cache);
2. builds a release of the same judgements (Parquet only, as `export_release`
   does by default) in a fresh Python process, once per ``--builds``. That
   process reports its build time, its resident memory before the build (the
   imports: Django, pandas, pyarrow, scipy, matplotlib), and its peak resident
   memory as the kernel counts it (``ru_maxrss``), so the peak is the build's
   own and not inflated by the data generation or the COPY in this process;
   and the peak of the child it forks to draw a plot (most of whose pages are
   the parent's, shared copy-on-write);
3. in the same fresh process, after the build, times the coverage part of
   `campaign_metrics` (``parts={"coverage"}``), what a dashboard asks for.

Usage (a database of its own: the script empties the collection tables):

    createdb -h 127.0.0.1 -U postgres pluralign_release_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pluralign_release_bench \\
        .venv/bin/python benchmarks/release_benchmark.py --judgements 1000000

Run it at 250,000 and 1,000,000 to see whether memory stays flat
(``--skip-generate`` reuses the data of the last run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

AUDIENCES = [
    ("everyone", "mass"),
    ("uk-adults", "public"),
    ("eu-adults", "public"),
    ("ward-nurses", "group"),
]
PER_ITEM_PER_AUDIENCE = 5
PEOPLE_PER_AUDIENCE = 2000
AGE = ["18-29", "30-44", "45-64", "65+"]


class PeakRSS:
    """Samples, every 10 ms in a thread, this process's resident memory plus its
    children's private memory (USS): the pages a forked plot child copied are counted,
    the ones it still shares with this process are not counted twice."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self._gone = psutil.Error
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children():
            with contextlib.suppress(self._gone):  # it may have exited meanwhile
                total += child.memory_full_info().uss
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def generate(judgements: int):
    from django.db import connection

    from collection import services
    from collection.models import Campaign

    items = judgements // (len(AUDIENCES) * PER_ITEM_PER_AUDIENCE)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE collection_response, collection_slot, collection_assignment, "
            "collection_item, collection_consent, collection_membership, "
            "collection_campaignaudience, collection_campaign_owners, collection_campaign, "
            "collection_withdrawal, collection_invitation, collection_participant, "
            "collection_audience, aggregation_release_audiences, aggregation_release, "
            "aggregation_exportjob_audiences, aggregation_exportjob, auth_user CASCADE"
        )
    audiences = []
    for slug, kind in AUDIENCES:
        fields = {}
        if kind == "public":
            fields = {
                "attribute_schema": [{"name": "age_band", "label": "Age", "choices": AGE}],
                "target_marginals": {
                    "age_band": {"18-29": 0.2, "30-44": 0.25, "45-64": 0.33, "65+": 0.22}
                },
            }
        if kind == "group":
            fields["max_members"] = PEOPLE_PER_AUDIENCE
        audiences.append(services.audience_create(slug=slug, name=slug, kind=kind, **fields))
    campaign = services.campaign_create(
        slug="bench-release", name="Release benchmark", item_kind="preference"
    )
    for audience in audiences:
        # Targets only: no slots, the benchmark reads responses.
        campaign.targets.create(audience=audience, overlap_k=PER_ITEM_PER_AUDIENCE)
    Campaign.objects.filter(pk=campaign.pk).update(status="open")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO collection_item (campaign_id, external_id, prompt, context, payload,
                                         is_attention_check, created_at)
            SELECT %(campaign)s, 'item-' || n,
                   'Question ' || n || ': ' || repeat('how should I handle this situation? ', 5),
                   NULL,
                   jsonb_build_object('candidates', jsonb_build_array(
                       jsonb_build_object('id', 'a', 'source', 'model-' || (n %% 3),
                           'text', 'Answer A to ' || n || '. ' || repeat('A careful reply. ', 18)),
                       jsonb_build_object('id', 'b', 'source', 'model-' || ((n + 1) %% 3),
                           'text', 'Answer B to ' || n || '. ' || repeat('A warmer reply. ', 18)))),
                   false, now()
            FROM generate_series(1, %(items)s) AS n
            """,
            {"campaign": campaign.pk, "items": items},
        )
        for a, audience in enumerate(audiences):
            cursor.execute(
                """
                WITH users AS (
                    INSERT INTO auth_user (password, is_superuser, username, first_name,
                        last_name, email, is_staff, is_active, date_joined)
                    SELECT '!', false, 'bench-' || %(a)s || '-' || n, '', '', '', false, true, now()
                    FROM generate_series(1, %(people)s) AS n
                    RETURNING id
                ), people AS (
                    INSERT INTO collection_participant (user_id, created_at)
                    SELECT id, now() FROM users RETURNING id
                ), members AS (
                    INSERT INTO collection_membership (participant_id, audience_id,
                        audience_kind, attributes, joined_at)
                    SELECT id, %(audience)s, %(kind)s,
                        CASE WHEN %(kind)s = 'public'
                             THEN jsonb_build_object('age_band', (%(ages)s::text[])[1 + id %% 4])
                             ELSE '{}'::jsonb END,
                        now()
                    FROM people RETURNING participant_id
                )
                INSERT INTO collection_consent (participant_id, campaign_id, version, text,
                    agreed_at)
                SELECT participant_id, %(campaign)s, '1', 'yes', now() FROM members
                """,
                {
                    "a": a,
                    "people": PEOPLE_PER_AUDIENCE,
                    "audience": audience.pk,
                    "kind": audience.kind,
                    "ages": AGE,
                    "campaign": campaign.pk,
                },
            )
            cursor.execute(
                """
                WITH people AS (
                    SELECT participant_id, row_number() OVER (ORDER BY participant_id) - 1 AS k
                    FROM collection_membership WHERE audience_id = %(audience)s
                ), items AS (
                    SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM collection_item
                    WHERE campaign_id = %(campaign)s
                )
                INSERT INTO collection_response (campaign_id, audience_id, item_id,
                    participant_id, payload, time_on_task_ms, idempotency_key, created_at)
                SELECT %(campaign)s, %(audience)s, items.id, people.participant_id,
                       jsonb_build_object('choice', CASE WHEN (items.i * 7 + s) %% 10 = 0 THEN 'tie'
                            WHEN (items.i * 3 + s * %(bias)s) %% 5 < 3 THEN 'a' ELSE 'b' END),
                       1000 + s, gen_random_uuid(), now()
                FROM items CROSS JOIN generate_series(0, %(k)s - 1) AS s
                JOIN people ON people.k = (items.i + s * 397) %% %(people)s
                """,
                {
                    "audience": audience.pk,
                    "campaign": campaign.pk,
                    "k": PER_ITEM_PER_AUDIENCE,
                    "people": PEOPLE_PER_AUDIENCE,
                    "bias": a + 1,
                },
            )
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM ANALYZE")
    return campaign, items


COPY_JOINED = """
COPY (
    SELECT r.id, r.item_id, a.slug, r.participant_id, m.attributes,
           r.payload->>'choice', i.prompt,
           i.payload->'candidates'->0->>'text', i.payload->'candidates'->0->>'source',
           i.payload->'candidates'->1->>'text', i.payload->'candidates'->1->>'source'
    FROM collection_response r
    JOIN collection_item i ON i.id = r.item_id
    JOIN collection_audience a ON a.id = r.audience_id
    LEFT JOIN collection_membership m
      ON m.participant_id = r.participant_id AND m.audience_id = r.audience_id
    WHERE r.campaign_id = %s AND r.withdrawn_at IS NULL
    ORDER BY r.audience_id, r.item_id, r.id
) TO STDOUT
"""


def time_copy(campaign) -> tuple[float, int]:
    from django.db import connection

    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(COPY_JOINED, [campaign.pk]) as copy:
        for block in copy:
            size += len(block)
    return time.perf_counter() - started, size


def build_in_this_process(*, split_views: bool = False) -> dict:
    """Build a release of the benchmark campaign; what the parent reads from stdout
    (``split_views``: with the split views, which a release this size leaves out unless
    asked)."""
    import django

    django.setup()
    import psutil
    from django.conf import settings

    from aggregation.models import ExportJob
    from aggregation.release import jobs, pipeline
    from collection.models import Campaign

    campaign = Campaign.objects.get(slug="bench-release")
    with tempfile.TemporaryDirectory() as folder:
        settings.RELEASES_ROOT = Path(folder)
        options = {"split_views": True} if split_views else None
        job = jobs.export_job_create(campaign=campaign, enqueue=False, options=options)
        baseline = psutil.Process().memory_info().rss
        with PeakRSS() as memory:
            started = time.perf_counter()
            job = jobs.export_job_run(job_id=job.pk)
            seconds = time.perf_counter() - started
        assert job.status == ExportJob.Status.SUCCEEDED, job.error
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet"))
    started = time.perf_counter()
    pipeline.campaign_metrics(campaign=campaign, parts={"coverage"})
    coverage_seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "parquet_bytes": size,
        "rss_before_build": baseline,
        # ru_maxrss is in kilobytes on Linux: the process's high-water mark, imports included.
        "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_peak_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "rss_peak_with_child": memory.peak,
        "coverage_seconds": coverage_seconds,
    }


def profile_datasets(*, split_views: bool = False) -> None:
    """One build in this process with each dataset's CPU seconds: building its tables (the
    main thread) and writing its files (the writer threads), by `time.thread_time`, so
    the figures hold on a loaded machine better than wall time does; and its Parquet."""
    import collections
    import dataclasses

    import django

    django.setup()
    from django.conf import settings

    from aggregation.release import datasets, files, jobs
    from collection.models import Campaign

    building, writing = collections.Counter(), collections.Counter()

    def timed(name, function, counter):
        def run(*args):
            started = time.thread_time()
            try:
                return function(*args)
            finally:
                counter[name] += time.thread_time() - started

        return run

    datasets.DATASETS = tuple(
        dataclasses.replace(
            dataset,
            build=timed(dataset.name, dataset.build, building),
            finish=dataset.finish and timed(dataset.name, dataset.finish, building),
        )
        for dataset in datasets.DATASETS
    )
    write = files.TableFile._write
    files.TableFile._write = lambda self, table: timed(self.name.split("/")[1], write, writing)(
        self, table
    )
    campaign = Campaign.objects.get(slug="bench-release")
    with tempfile.TemporaryDirectory() as folder:
        settings.RELEASES_ROOT = Path(folder)
        options = {"split_views": True} if split_views else None
        job = jobs.export_job_create(campaign=campaign, enqueue=False, options=options)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        jobs.export_job_run(job_id=job.pk)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        sizes = collections.Counter()
        for path in Path(folder).rglob("*.parquet"):
            # <audience>/<dataset>.parquet, or <audience>/<dataset>/<split>.parquet
            split = path.parent.name in datasets.BY_NAME
            sizes[path.parent.name if split else path.stem] += path.stat().st_size
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"build {seconds:.2f} s wall, {cpu:.2f} s CPU (this process); load average {_load()}")
    for name in sorted(building.keys() | writing.keys(), key=lambda n: -building[n] - writing[n]):
        print(
            f"  {name:28} build {building[name]:5.2f} s CPU, write {writing[name]:5.2f} s CPU, "
            f"Parquet {sizes[name] / 1e6:5.1f} MB"
        )


def build_in_fresh_process(*, split_views: bool = False) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--build-only", *(["--split-views"] if split_views else [])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _load() -> str:
    """The 1, 5 and 15 minute load averages: a loaded machine's numbers are not results."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgements", type=int, default=1_000_000)
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data")
    parser.add_argument("--builds", type=int, default=5, help="fresh-process builds to time")
    parser.add_argument(
        "--split-views",
        action="store_true",
        help="build with the split views (export option split_views: true)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one build, in this process: CPU seconds per dataset (reuses the data)",
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build_in_this_process(split_views=args.split_views)))
        return
    if args.profile:
        profile_datasets(split_views=args.split_views)
        return
    import django

    django.setup()
    from django.core.management import call_command

    from collection.models import Campaign, Response

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.skip_generate:
        campaign = Campaign.objects.get(slug="bench-release")
        items = campaign.items.count()
    else:
        campaign, items = generate(args.judgements)
    rows = Response.objects.filter(campaign=campaign).count()
    print(
        f"data: {rows:,} judgements, {items:,} items, {len(AUDIENCES)} audiences "
        f"({time.perf_counter() - started:.1f} s to generate)"
    )

    copies = [time_copy(campaign) for _ in range(3)]  # the first one warms the cache
    copy_seconds, copy_bytes = statistics.median(c[0] for c in copies), copies[0][1]
    print(
        f"COPY joined rows: median {copy_seconds:.2f} s of "
        f"{', '.join(f'{c[0]:.2f}' for c in copies)}; {rows / copy_seconds:,.0f} rows/s, "
        f"{copy_bytes / 1e6:.0f} MB; load average {_load()}"
    )
    builds = []
    for n in range(1, args.builds + 1):
        build = build_in_fresh_process(split_views=args.split_views)
        builds.append(build)
        seconds = build["seconds"]
        print(
            f"release build {n} (fresh process): {seconds:.2f} s, {rows / seconds:,.0f} rows/s, "
            f"parquet {build['parquet_bytes'] / 1e6:.0f} MB, "
            f"{copy_seconds / seconds:.2f}x COPY (target >= 1.5x); "
            f"peak RSS {build['rss_peak'] / 1e6:.0f} MB (target < 500 MB; "
            f"{build['rss_before_build'] / 1e6:.0f} MB before the build, imports included; "
            f"with the plot child's own pages {build['rss_peak_with_child'] / 1e6:.0f} MB, "
            f"sampled); "
            f"coverage metrics alone {build['coverage_seconds']:.2f} s; load average {_load()}"
        )
    seconds = statistics.median(build["seconds"] for build in builds)
    print(
        f"median build {seconds:.2f} s = {rows / seconds:,.0f} rows/s = "
        f"{copy_seconds / seconds:.2f}x the median COPY; highest peak RSS "
        f"{max(build['rss_peak'] for build in builds) / 1e6:.0f} MB, with the plot child "
        f"{max(build['rss_peak_with_child'] for build in builds) / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()
