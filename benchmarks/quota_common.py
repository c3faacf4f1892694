"""What the two quota simulations share (panel entry, the engine): four age bands
targeted at 25 % each, the skewed arrivals of a self-selected online sample (55/25/15/5 %)
and the same with the last band never arriving, and a fresh migrated bench database."""

from __future__ import annotations

import os

from benchmarks.common import bench_database_url

BANDS = ["18-29", "30-44", "45-64", "65+"]
TARGET = {band: 0.25 for band in BANDS}
SKEWED = [0.55, 0.25, 0.15, 0.05]
NEVER = [0.60, 0.25, 0.15, 0.0]


def setup() -> None:
    """Point Django at a fresh bench database (BENCH_DB) and migrate it."""
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
