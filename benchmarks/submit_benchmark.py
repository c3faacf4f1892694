"""Submission throughput: concurrent annotator clients against gunicorn on PostgreSQL.

    .venv/bin/python benchmarks/submit_benchmark.py --clients 16 64 --judgements 6000

Each client is its own participant with its own token, in its own thread (spread
over several processes), and loops: submit the current item, whose reply carries
the next one — one round trip per judgement. Afterwards it checks the database:
no (item, audience) above k, no participant with an item twice, and exactly one
stored response per acknowledged submission.

CPU accounting, which load on a shared machine barely changes (throughput does):
for each level, the user+system CPU seconds of the gunicorn master and workers,
of the PostgreSQL backends serving the bench database (their /proc stat, sampled
every half second so that a backend closed during the level still counts; one
started during it counts from zero), and of the client processes (getrusage of
the reaped children), each divided by the judgements
acknowledged, as ``cpu_ms_per_judgement``. 500 judgements/s on 2 cores is a
budget of 4 ms for all three together. Then ``benchmarks/submit_inprocess.py``
runs against the same database for statements (round trips) and wall time per
request in-process.

Uses DATABASE_URL's server (a fresh database named pluralign_bench beside it),
or the embedded PostgreSQL when DATABASE_URL is unset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.client import HTTPConnection
from pathlib import Path

import psutil
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_database_url, save_report  # noqa: E402


def setup(database_url: str, *, clients: int, items: int, k: int) -> list[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    code = f"""
import django, json
django.setup()
from collection import services
from collection.services import api_token_create
from django.contrib.auth import get_user_model
User = get_user_model()
owner = User.objects.create(username="bench-owner", is_staff=True)
audience = services.audience_create(slug="bench", name="Bench", kind="mass")
campaign = services.campaign_create(slug="bench", name="Bench", item_kind="preference",
    owners=[owner], targets={{audience: {k}}}, lease_seconds=600)
services.items_create(campaign=campaign, rows=(
    {{"external_id": f"b{{n}}", "prompt": f"Prompt {{n}}",
      "payload": {{"candidates": [f"A {{n}}", f"B {{n}}"]}}}} for n in range({items})))
services.campaign_set_status(campaign=campaign, status="open")
keys = []
for n in range({clients}):
    user = User.objects.create(username=f"bench-{{n}}")
    participant = services.participant_get_or_create(user=user)
    services.membership_join(participant=participant, audience=audience)
    services.consent_give(participant=participant, campaign=campaign)
    keys.append(api_token_create(user=user, name="bench")[1])
print(json.dumps(keys))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def production_env(database_url: str) -> dict:
    """Production settings, but over plain HTTP on loopback, and without the rate limits
    that would turn a load test into 429s."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "PLURALIGN_THROTTLING": "false",
        "PLURALIGN_ENDPOINT_KEYS": os.environ.get("PLURALIGN_ENDPOINT_KEYS")
        or Fernet.generate_key().decode(),
    }


def start_server(
    database_url: str, port: int, workers: int, *, boot_seconds: int = 60, threads: int = 1
) -> subprocess.Popen:
    """gunicorn on loopback; ``boot_seconds`` for a worker to start (and answer);
    ``threads`` above 1: the gthread worker with that many threads, as docker/ runs it."""
    env = production_env(database_url)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            str(boot_seconds),
            *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []),
        ],
        cwd=ROOT,
        env=env,
    )
    # The probe asks for the public sign-in page, which answers 200 to anyone. (It asked
    # /api/v1/me/ and took the 401 as "up": each try the booting worker answered after
    # the probe's 1 s had run out logged a warning, "Unauthorized: /api/v1/me/", so the
    # benchmark's log filled with them; the server was right to log a 401.)
    deadline = time.time() + boot_seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5)
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def request(conn: HTTPConnection, method: str, path: str, key: str, body=None):
    payload = json.dumps(body).encode() if body is not None else b""
    conn.request(
        method,
        path,
        body=payload,
        headers={
            "Authorization": f"Token {key}",
            "Content-Type": "application/json",
            "Host": "127.0.0.1",
        },
    )
    reply = conn.getresponse()
    data = reply.read()
    return reply.status, (json.loads(data) if data else None)


def client_process(port: int, keys: list[str], quota: int, results) -> None:
    """Threads in one process, one per participant; each does `quota` judgements."""

    def run(key: str) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, errors, acked = [], 0, []
        status, body = request(conn, "POST", "/api/v1/campaigns/bench/next/", key)
        while len(latencies) < quota and body and body.get("assignment"):
            started = time.perf_counter()
            status, reply = request(
                conn,
                "POST",
                f"/api/v1/assignments/{body['assignment']}/submit/",
                key,
                {
                    "payload": {"choice": "a"},
                    "time_on_task_ms": 1000,
                    "idempotency_key": str(uuid.uuid4()),
                },
            )
            latencies.append(time.perf_counter() - started)
            if status not in (200, 201):
                errors += 1
                status, body = request(conn, "POST", "/api/v1/campaigns/bench/next/", key)
                continue
            acked.append(reply["response"])
            body = reply["next"]
        results.put((latencies, errors, acked))

    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class BackendSampler(threading.Thread):
    """The CPU seconds of every PostgreSQL backend of the bench database, read every
    half second and kept after the backend ends: Django closes a connection after
    CONN_MAX_AGE (60 s), so a level's backends can end before it does (at most the
    last half second of an ended backend is missed)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database = database_url.rsplit("/", 1)[1].split("?")[0]
        self.url = database_url.replace("postgres://", "postgresql://")
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def sample(self, conn) -> None:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.database],
        ).fetchall()
        for (pid,) in rows:
            with contextlib.suppress(psutil.Error):  # a backend that ended meanwhile
                seconds = _cpu_seconds(psutil.Process(pid))
                with self.lock:
                    self.seen[pid] = seconds

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.wait(0.5):
                self.sample(conn)

    def totals(self) -> dict[int, float]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            self.sample(conn)
        with self.lock:
            return dict(self.seen)


def cpu_snapshot(server: subprocess.Popen, backends: BackendSampler) -> dict:
    """CPU seconds used so far: the gunicorn processes, each PostgreSQL backend of the
    bench database (by pid), and this process's reaped children (the clients)."""
    master = psutil.Process(server.pid)
    gunicorn = sum(_cpu_seconds(p) for p in [master, *master.children(recursive=True)])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "gunicorn": gunicorn,
        "backends": backends.totals(),
        "clients": children.ru_utime + children.ru_stime,
    }


def cpu_per_judgement(before: dict, after: dict, judgements: int) -> dict:
    """Milliseconds of CPU per acknowledged judgement, by where it was spent."""
    postgres = sum(
        seconds - before["backends"].get(pid, 0.0) for pid, seconds in after["backends"].items()
    )
    parts = {
        "gunicorn": after["gunicorn"] - before["gunicorn"],
        "postgres": postgres,
        "clients": after["clients"] - before["clients"],
    }
    per = {name: round(1000 * seconds / max(judgements, 1), 2) for name, seconds in parts.items()}
    per["total"] = round(sum(per.values()), 2)
    return per


def run_level(port: int, keys: list[str], judgements: int, processes: int) -> dict:
    quota = max(1, judgements // len(keys))
    results = multiprocessing.Queue()
    groups = [keys[i::processes] for i in range(processes)]
    workers = [
        multiprocessing.Process(target=client_process, args=(port, group, quota, results))
        for group in groups
        if group
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    collected = [results.get() for _ in keys]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for result in collected for x in result[0])
    acked = [x for result in collected for x in result[2]]
    return {
        "clients": len(keys),
        "judgements": len(latencies),
        "seconds": round(elapsed, 2),
        "per_second": round(len(acked) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2)
        if latencies
        else None,
        "errors": sum(result[1] for result in collected),
        "acked": acked,
    }


def verify(database_url: str, acked: list[int], k: int) -> dict:
    import psycopg

    url = database_url.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn:
        over = conn.execute(
            "SELECT count(*) FROM (SELECT item_id, audience_id FROM collection_response "
            "GROUP BY 1, 2 HAVING count(*) > %s) AS x",
            [k],
        ).fetchone()[0]
        repeats = conn.execute(
            "SELECT count(*) FROM (SELECT item_id, participant_id FROM collection_assignment "
            "GROUP BY 1, 2 HAVING count(*) > 1) AS x"
        ).fetchone()[0]
        stored = {row[0] for row in conn.execute("SELECT id FROM collection_response")}
    return {
        "over_assigned": over,
        "repeated_items": repeats,
        "lost": len(set(acked) - stored),
        "duplicated": len(acked) - len(set(acked)),
        "unacknowledged_stored": len(stored - set(acked)),
    }


def inprocess(database_url: str, requests: int) -> dict:
    """Statements and wall time per submit-and-next through Django in-process (after
    the verification, so its extra participant is not counted there)."""
    out = subprocess.run(
        [sys.executable, "benchmarks/submit_inprocess.py", "--requests", str(requests)],
        cwd=ROOT,
        env=production_env(database_url),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--judgements", type=int, default=6000, help="per level")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per worker: gthread, as docker/compose.yaml runs it (1: sync workers)",
    )
    parser.add_argument(
        "--boot-seconds", type=int, default=60, help="for gunicorn to answer (longer under load)"
    )
    parser.add_argument(
        "--inprocess", type=int, default=500, help="in-process requests afterwards (0: none)"
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    database_url = bench_database_url()
    total_clients = sum(args.clients)
    items = max(2000, (sum(args.judgements for _ in args.clients) // args.k) + 1000)
    keys = setup(database_url, clients=total_clients, items=items, k=args.k)
    server = start_server(
        database_url, args.port, args.workers, threads=args.threads, boot_seconds=args.boot_seconds
    )
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "levels": [],
    }
    all_acked: list[int] = []
    sampler = BackendSampler(database_url)
    sampler.start()
    try:
        offset = 0
        for clients in args.clients:
            before = cpu_snapshot(server, sampler)
            level = run_level(
                args.port,
                keys[offset : offset + clients],
                args.judgements,
                min(args.processes, clients),
            )
            offset += clients
            level["cpu_ms_per_judgement"] = cpu_per_judgement(
                before, cpu_snapshot(server, sampler), len(level["acked"])
            )
            level["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
            all_acked += level.pop("acked")
            report["levels"].append(level)
            print(json.dumps(level), flush=True)
    finally:
        sampler.stopped.set()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    report["verification"] = verify(database_url, all_acked, args.k)
    if args.inprocess:
        report["inprocess"] = inprocess(database_url, args.inprocess)
    save_report("submit", report)


if __name__ == "__main__":
    main()
