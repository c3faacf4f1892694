"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under var/.

The embedded server (pgserver ships a real PostgreSQL 16 in a wheel) lets a
newcomer run and test the project with no database server installed. It is
started on first use, left running (cleanup_mode=None) and reused by every
later process that points at the same data folder.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import dj_database_url

EMBEDDED_DB_NAME = "pluralign"


def embedded_data_dir(base_dir: Path) -> Path:
    return Path(os.environ.get("PLURALIGN_PGDATA", base_dir / "var" / "pg"))


def embedded_database_url(data_dir: Path) -> str:
    # Imported here: a DATABASE_URL deployment never needs it. platformdirs warns
    # about XDG_RUNTIME_DIR on machines without a login session; pgserver copes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    return server.get_uri(EMBEDDED_DB_NAME)


def database_settings(base_dir: Path, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Django's DATABASES['default'] from the environment."""
    environ = os.environ if environ is None else environ
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        url = embedded_database_url(embedded_data_dir(base_dir))
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if not config["ENGINE"].endswith("postgresql"):
        raise ValueError(
            f"DATABASE_URL must point at PostgreSQL (got engine {config['ENGINE']}): "
            "the assignment engine relies on its row locks."
        )
    # A socket folder given as ?host=... (as pgserver's URI does) is the HOST.
    if not config.get("HOST") and "host" in config.get("OPTIONS", {}):
        config["HOST"] = config["OPTIONS"].pop("host")
    # Two test runs at once (two checkouts, or a developer beside CI) each name their own.
    config["TEST"] = {"NAME": environ.get("DATABASE_TEST_NAME") or f"test_{config['NAME']}"}
    config["OPTIONS"] = {**config.get("OPTIONS", {}), "application_name": "pluralign"}
    return config
