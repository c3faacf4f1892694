"""The project starts the way the README says, on either database path."""

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
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import pgserver, sys; pgserver.get_server(sys.argv[1]).cleanup()",
                    str(Path(short) / "var" / "pg"),
                ],
                capture_output=True,
                timeout=120,
            )


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
