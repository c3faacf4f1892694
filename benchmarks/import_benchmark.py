"""Item import speed: a JSONL file of N preference items through `items_import`.

    .venv/bin/python benchmarks/import_benchmark.py --items 100000

Runs on a fresh database beside DATABASE_URL's (or the embedded PostgreSQL),
times the whole import (parse, validate, COPY, slot creation for one audience
with k=3), and prints items per second.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()

    from benchmarks.common import bench_campaign

    campaign = bench_campaign(k=3)
    from collection.imports import items_import

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for n in range(args.items):
            handle.write(
                json.dumps(
                    {
                        "external_id": f"item-{n}",
                        "prompt": f"How should I answer question number {n} about everyday life?",
                        "payload": {
                            "candidates": [
                                {
                                    "text": f"A careful, complete answer to question {n}.",
                                    "source": "m1",
                                },
                                {"text": f"A short answer to {n}.", "source": "m2"},
                            ]
                        },
                    }
                )
                + "\n"
            )
        path = Path(handle.name)
    size = path.stat().st_size
    started = time.perf_counter()
    with path.open("rb") as stream:
        result = items_import(campaign=campaign, stream=stream, file_format="jsonl")
    elapsed = time.perf_counter() - started
    path.unlink()
    print(
        json.dumps(
            {
                "items": result.created,
                "file_mb": round(size / 1e6, 1),
                "seconds": round(elapsed, 2),
                "items_per_second": round(result.created / elapsed),
                "slots_created": campaign.targets.get().overlap_k * result.created,
            }
        )
    )


if __name__ == "__main__":
    main()
