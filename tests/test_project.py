"""The project starts the way the README says, on either database path."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.database import database_settings

ROOT = Path(__file__).resolve().parent.parent


def test_stdlib_modules_are_not_shadowed_by_project_folders():
    # A Python package named `platform` at the root would shadow the standard
    # library module that uuid and Celery import at start-up.
    code = (
        "import uuid, platform, celery.platforms, config;"
        "assert platform.__file__ and 'site' not in platform.__file__;"
        "assert 'main/platform' not in platform.__file__;"
        "print(uuid.uuid4(), platform.system())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_database_url_is_used_when_set(tmp_path):
    config = database_settings(
        tmp_path, {"DATABASE_URL": "postgres://alice:secret@db.example:6543/research"}
    )
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.example",
        6543,
        "research",
        "alice",
    )
    assert config["TEST"]["NAME"] == "test_research"
    assert not (tmp_path / "var").exists()  # no embedded server was started


def test_only_postgresql_is_accepted(tmp_path):
    with pytest.raises(ValueError, match="PostgreSQL"):
        database_settings(tmp_path, {"DATABASE_URL": "sqlite:///db.sqlite3"})


def test_embedded_postgresql_starts_without_database_url(tmp_path):
    # A short path: the server's Unix socket lives in its data folder.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pg", dir="/tmp") as short:
        config = database_settings(Path(short), {"DATABASE_URL": ""})
        try:
            assert config["ENGINE"] == "django.db.backends.postgresql"
            assert config["NAME"] == "pluralign"
            assert (Path(short) / "var" / "pg" / "PG_VERSION").exists()
            import psycopg

            with psycopg.connect(
                dbname=config["NAME"], user=config["USER"], host=config["HOST"]
            ) as connection:
                version = connection.execute("SHOW server_version").fetchone()[0]
            assert version.startswith("16")
            # A second process reuses the running server instead of starting another.
            again = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from pathlib import Path; from config.database import database_settings;"
                    f"print(database_settings(Path({short!r}), {{}})['HOST'])",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert again.returncode == 0, again.stderr
            assert again.stdout.strip().splitlines()[-1] == config["HOST"]
        finally:
            _stop_embedded(Path(short) / "var" / "pg")


def _stop_embedded(data_dir: Path) -> subprocess.CompletedProcess:
    """`make stop`'s script, pointed at ``data_dir``."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stop_embedded_db.py")],
        env={**os.environ, "PLURALIGN_PGDATA": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _embedded_is_running(data_dir: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    return info is not None and info.is_running()


def test_make_stop_stops_the_embedded_postgresql_a_killed_server_left_running():
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pg", dir="/tmp") as short:
        data_dir = Path(short) / "var" / "pg"
        # A process that starts the server and dies without cleaning up, as runserver
        # does when it is killed: it stays on pgserver's list of users.
        started = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os; from pathlib import Path; from config.database import "
                f"database_settings; database_settings(Path({short!r}), {{}}); os._exit(0)",
            ],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        try:
            assert _embedded_is_running(data_dir)
            stopped = _stop_embedded(data_dir)
            assert stopped.returncode == 0, stopped.stderr
            assert "Stopped the embedded PostgreSQL" in stopped.stdout
            assert not _embedded_is_running(data_dir)
            # Again: nothing to stop, and it says so.
            assert "was not running" in _stop_embedded(data_dir).stdout
        finally:
            _stop_embedded(data_dir)


def test_tasks_run_in_process_without_a_broker():
    code = (
        "import os; os.environ.pop('CELERY_BROKER_URL', None);"
        "os.environ['DATABASE_URL'] = 'postgres://nobody@127.0.0.1:1/none';"
        "from django.conf import settings; import django; django.setup();"
        "from config.celery import app; print(settings.CELERY_TASK_ALWAYS_EAGER,"
        " app.conf.task_always_eager)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    result = subprocess.run(
        [sys.executable, "-c", code.replace("os.environ.pop('CELERY_BROKER_URL', None);", "")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.stdout.split() == ["False", "False"], result.stderr
