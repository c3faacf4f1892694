"""What the import, next-item and submission benchmarks share: a database of their own
beside DATABASE_URL's (or in the embedded PostgreSQL), the campaign they start from,
and where their reports go."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Two benchmark runs on one server (two checkouts) each name their own.
BENCH_DB = os.environ.get("PLURALIGN_BENCH_DB", "pluralign_bench")


def bench_database_url() -> str:
    """A fresh, empty database named BENCH_DB on DATABASE_URL's server; its URL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.database import database_settings

    base = database_settings(ROOT)
    host = base["HOST"]
    port = f":{base['PORT']}" if base.get("PORT") else ""
    user = base["USER"]
    socket = f"?host={host}" if host.startswith("/") else ""
    server = f"{user}@{'' if socket else host}{port}"
    import psycopg

    admin = f"postgresql://{server}/postgres{socket}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return f"postgres://{server}/{BENCH_DB}{socket}"


def bench_campaign(*, k: int = 3):
    """Point Django at a fresh bench database, migrate it, and create a draft preference
    campaign "bench" targeting one mass audience "bench" with overlap k."""
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from collection import services

    call_command("migrate", verbosity=0)
    audience = services.audience_create(slug="bench", name="Bench", kind="mass")
    return services.campaign_create(
        slug="bench", name="Bench", item_kind="preference", targets={audience: k}
    )


def save_report(name: str, report: dict) -> None:
    """Print the report and keep it in benchmarks/results/<name>.json (git-ignored)."""
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(text)
