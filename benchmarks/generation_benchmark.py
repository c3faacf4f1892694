"""Candidate generation throughput against the stand-in model at a fixed latency.

    .venv/bin/python benchmarks/generation_benchmark.py --items 200 --latency-ms 200 \
        --concurrency 16 --runs 3

One endpoint (max_concurrency 16) sampled twice per item, on a fresh database of
its own beside DATABASE_URL's. Each run creates a job for a fresh prompts-only
campaign and runs its chunks in this process as `manage.py generate_candidates`
does; the time covers calling, saving every reply and writing every item's
candidates (and slots). At 200 ms and 16 in flight the ceiling is 80 requests/s.

Where a run's time goes, per run: ``ramp_s`` (start to the first call going out:
reading the requests, making the client), ``calls_s`` (first call out to last reply
in), ``tail_s`` (last reply in to the chunk's end: the last batch saved, its items
written, the job finished), the calls' own time (``call_ms`` p50 and max: the stand-in's
latency plus HTTP and the client, with 16 threads sharing one interpreter),
``in_flight`` (mean calls in flight over ``calls_s``) and ``writes_s`` (the chunk's
thread saving replies and writing items, which it does between handing out calls).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Trace:
    """Times each call and each write of the chunk, by wrapping the chunk's functions."""

    def __init__(self, chunks):
        self.calls: list[tuple[float, float]] = []
        self.writes = 0.0
        call, save, apply = chunks._call, chunks._save_results, chunks._apply_items

        def timed_call(*args, **kwargs):
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.calls.append((began, time.perf_counter()))

        def timed(function):
            def wrapper(*args, **kwargs):
                began = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.writes += time.perf_counter() - began

            return wrapper

        chunks._call, chunks._save_results = timed_call, timed(save)
        chunks._apply_items = timed(apply)

    def reset(self) -> None:
        self.calls, self.writes = [], 0.0

    def report(self, started: float, ended: float) -> dict:
        first = min(began for began, _ in self.calls)
        last = max(end for _, end in self.calls)
        durations = sorted((end - began) * 1000 for began, end in self.calls)
        return {
            "ramp_s": round(first - started, 3),
            "calls_s": round(last - first, 3),
            "tail_s": round(ended - last, 3),
            "call_ms": {
                "p50": round(statistics.median(durations), 1),
                "max": round(durations[-1], 1),
            },
            "in_flight": round(sum(durations) / 1000 / (last - first), 2),
            "writes_s": round(self.writes, 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from benchmarks import common

    # Not the shared bench database: other benchmarks may be using it right now.
    common.BENCH_DB = os.environ.get("PLURALIGN_BENCH_DB", "pluralign_bench") + "_generation"
    os.environ.setdefault("PLURALIGN_ENDPOINT_KEYS", "")
    campaign0 = common.bench_campaign(k=1)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    from django.contrib.auth import get_user_model

    from collection import imports
    from collection import services as collection_services
    from endpoints import services
    from endpoints.models import GenerationJob
    from endpoints.selectors import generation_job_progress
    from endpoints.services import chunks

    audience = campaign0.audiences.get()
    user = get_user_model().objects.create(username="bench-researcher", is_staff=True)
    results = []
    trace = _Trace(chunks)
    # The stand-in runs in a process of its own, as a real endpoint would: in this one
    # its threads would compete with the client's for the interpreter lock.
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "standin_model",
            "--api-key",
            "sk-bench",
            "--latency-ms",
            str(args.latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = server.stdout.readline().split(" at ")[1].split()[0]
    try:
        endpoint = services.endpoint_create(
            owner=user,
            name="standin",
            base_url=base_url,
            model="standin",
            api_key="sk-bench",
            max_concurrency=args.concurrency,
            timeout_seconds=30,
        )
        for run in range(args.runs):
            campaign = collection_services.campaign_create(
                slug=f"gen-{run}",
                name=f"Generation {run}",
                item_kind="preference",
                targets={audience: 1},
            )
            lines = "\n".join(
                json.dumps({"prompt": f"Run {run}: how should I answer question {n}?"})
                for n in range(args.items)
            )
            imports.items_import(
                campaign=campaign,
                stream=io.BytesIO(lines.encode()),
                file_format="jsonl",
                prompts_only=True,
            )
            job = services.generation_job_create(
                campaign=campaign,
                created_by=user,
                sources=[{"endpoint": endpoint.pk, "samples": 2}],
                chunk_size=args.items,
                enqueue=False,
            )
            trace.reset()
            started = time.perf_counter()
            services.generation_chunk_run(job_id=job.pk, chunk=0)
            seconds = time.perf_counter() - started
            where = trace.report(started, started + seconds)
            progress = generation_job_progress(job=job)
            job.refresh_from_db()
            assert job.status == GenerationJob.Status.FINISHED, job.status
            assert progress.succeeded == 2 * args.items and progress.items_done == args.items
            results.append(
                {
                    "seconds": round(seconds, 3),
                    "requests_per_s": round(2 * args.items / seconds, 1),
                    **where,
                }
            )
            print(f"run {run + 1}: {results[-1]}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    common.save_report(
        "generation",
        {
            "items": args.items,
            "requests": 2 * args.items,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "ceiling_requests_per_s": round(args.concurrency * 1000 / args.latency_ms, 1),
            "runs": results,
            "median_requests_per_s": statistics.median(r["requests_per_s"] for r in results),
            "load_average": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
