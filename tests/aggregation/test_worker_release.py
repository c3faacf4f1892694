"""A real Celery worker on Redis builds a release; a worker killed mid-build publishes
nothing, and running the job again gives the bytes an uninterrupted build gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from aggregation.models import ExportJob, Release
from aggregation.release import jobs, pipeline
from tests.factories import (
    AudienceFactory,
    UserFactory,
    make_campaign,
    public_age_audience,
    ready_participant,
)
from tests.helpers import celery_worker, need_service, respond_to_all

REDIS_URL = os.environ.get("TEST_CELERY_REDIS_URL", "redis://127.0.0.1:6379/13")
ROOT = Path(settings.BASE_DIR)


def redis_or_skip():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except Exception as error:  # any failure to reach it means "not available"
        need_service(f"Redis is not reachable at {REDIS_URL} ({error})")
    client.flushdb()  # this test's own database number


def database_url_for_worker() -> str:
    data = connection.settings_dict
    user = quote(data.get("USER") or "postgres")
    password = f":{quote(data['PASSWORD'])}" if data.get("PASSWORD") else ""
    host, port = data.get("HOST") or "", data.get("PORT") or ""
    if host.startswith("/"):
        suffix = f"&port={port}" if port else ""
        return f"postgres://{user}{password}@/{data['NAME']}?host={quote(host)}{suffix}"
    return f"postgres://{user}{password}@{host}:{port or 5432}/{data['NAME']}"


def start_worker(
    tmp_path: Path,
    name: str,
    releases: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_worker(),
        "CELERY_BROKER_URL": REDIS_URL,
        "PLURALIGN_RELEASES_ROOT": str(releases),
        # Sleep after each chunk so the test can kill the worker mid-build.
        pipeline.PAUSE_ENV: "0.4",
        **(env or {}),
    }
    return celery_worker(tmp_path / f"{name}.log", name, env, args)


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        worker.wait(timeout=30)


def wait_for(condition, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


def _reset_connections(app) -> None:
    """Forget pooled broker connections, so the next send uses the current broker_url.

    kombu keeps producer pools in a process-wide registry keyed by connection;
    closing only the app's pool left a producer pool pointing at it ("Acquire on
    closed pool") whenever CELERY_BROKER_URL was set, as in CI.
    """
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_on_redis(monkeypatch):
    redis_or_skip()
    from config.celery import app

    previous = app.conf.task_always_eager, app.conf.broker_url
    # Celery reads CELERY_BROKER_URL from the environment before its own settings,
    # so the test's broker has to be set there too (CI sets it to another db).
    monkeypatch.setenv("CELERY_BROKER_URL", REDIS_URL)
    app.conf.task_always_eager = False
    app.conf.broker_url = REDIS_URL
    _reset_connections(app)
    yield app
    app.conf.task_always_eager, app.conf.broker_url = previous
    _reset_connections(app)


def campaign_with_many_chunks(owner):
    """40 items answered by 16 people: 640 judgements, read in 10 chunks."""
    everyone = AudienceFactory(slug="everyone")
    public = public_age_audience(slug="uk-adults", targets={"18-39": 0.4, "40+": 0.6})
    campaign = make_campaign(
        audiences={everyone: 8, public: 8}, items=40, owners=[owner], slug="worker-pairs"
    )
    for n in range(8):
        person = ready_participant(audience=everyone, campaign=campaign)
        respond_to_all(person, campaign, everyone, lambda item, n=n: {"choice": "ab"[n % 2]})
        person = ready_participant(
            audience=public, campaign=campaign, attributes={"age_band": ["18-39", "40+"][n % 2]}
        )
        respond_to_all(
            person, campaign, public, lambda item, n=n: {"choice": "ab"[(n + item.pk) % 2]}
        )
    return campaign


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_builds_a_release_and_a_killed_build_reruns_to_the_same_bytes(
    celery_on_redis, tmp_path
):
    owner = UserFactory()
    campaign = campaign_with_many_chunks(owner)
    releases = tmp_path / "releases"
    first = start_worker(tmp_path, "first", releases)
    try:
        job = jobs.export_job_create(
            campaign=campaign, created_by=owner, formats=["jsonl"], options={"batch_rows": 100}
        )
        # Killed mid-build: SIGKILL once a few chunks are written.
        wait_for(
            lambda: ExportJob.objects.get(pk=job.pk).progress > 0.25,
            60,
            "the build to start",
            tmp_path / "first.log",
        )
        stop(first, signal.SIGKILL)
    finally:
        stop(first, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING and job.progress < 0.9
    assert not Release.objects.exists()
    folder = releases / campaign.slug
    assert not (folder / "v1").exists()
    assert all(path.name.startswith(".v1.partial-") for path in folder.iterdir())
    assert jobs.export_job_is_abandoned(job=job)

    second = start_worker(tmp_path, "second", releases)
    try:
        jobs.export_job_retry(job=job)
        wait_for(
            lambda: ExportJob.objects.get(pk=job.pk).is_finished,
            90,
            "the re-run",
            tmp_path / "second.log",
        )
        job.refresh_from_db()
        assert job.status == ExportJob.Status.SUCCEEDED, job.error
        assert job.attempts == 2
        # A second delivery of the task changes nothing.
        from aggregation.tasks import release_build

        assert release_build.delay(job.pk).id
        time.sleep(1.5)
    finally:
        stop(second)
    assert Release.objects.count() == 1
    assert sorted(path.name for path in folder.iterdir()) == ["v1"]  # partial folder cleared

    assert_same_bytes_as_a_fresh_build(job, folder / "v1", tmp_path / "reference")


def assert_same_bytes_as_a_fresh_build(job: ExportJob, published: Path, reference: Path) -> None:
    """Every published file equals an uninterrupted in-process build of the job (the
    manifest up to its build time; the zip holds the manifest)."""
    reference.mkdir()
    pipeline.release_write(job=job, directory=reference, progress=lambda f, m: None)
    names = sorted(str(p.relative_to(published)) for p in published.rglob("*") if p.is_file())
    assert "everyone/preferences.parquet" in names and "uk-adults/preferences.jsonl" in names
    for name in names:
        if name == "manifest.json":
            ours, theirs = (json.loads((d / name).read_text()) for d in (published, reference))
            ours.pop("built_at"), theirs.pop("built_at")
            assert ours == theirs
        elif not name.endswith(".zip"):
            assert (published / name).read_bytes() == (reference / name).read_bytes(), name
