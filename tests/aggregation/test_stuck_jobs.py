"""An export job whose worker stopped answering is requeued by itself; one whose worker
is alive, however slow, is left alone; the sweep is safe to run twice and at once."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from datetime import timedelta

import psycopg
import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from aggregation.models import ExportJob, Release
from aggregation.release import jobs, pipeline
from tests.aggregation.test_worker_release import (
    REDIS_URL,
    assert_same_bytes_as_a_fresh_build,
    campaign_with_many_chunks,
    celery_on_redis,  # noqa: F401 (a fixture)
    database_url_for_worker,
    start_worker,
    stop,
    wait_for,
)
from tests.factories import UserFactory

# The worker tests' thresholds: beat every half second, stale after three.
QUICK = {
    "PLURALIGN_JOB_HEARTBEAT_SECONDS": "0.5",
    "PLURALIGN_JOB_STALE_SECONDS": "3",
    "PLURALIGN_JOB_SWEEP_SECONDS": "1",
}


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def running_job(campaign, *, heard_seconds_ago: float, attempts: int = 1) -> ExportJob:
    """A job some process started building and last stamped ``heard_seconds_ago``."""
    job = jobs.export_job_create(campaign=campaign, enqueue=False)
    heard = timezone.now() - timedelta(seconds=heard_seconds_ago)
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.RUNNING,
        attempts=attempts,
        started_at=heard - timedelta(seconds=30),
        heartbeat_at=heard,
        worker="gone-host:4242",
        progress=0.4,
        message="Writing files.",
    )
    job.refresh_from_db()
    return job


def other_session() -> psycopg.Connection:
    return psycopg.connect(database_url_for_worker(), autocommit=True)


# With a real worker ---------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("beat", [True, False], ids=["beat", "worker-start-only"])
def test_a_build_whose_worker_was_killed_is_requeued_and_publishes_the_same_bytes(
    celery_on_redis,  # noqa: F811
    tmp_path,
    beat,
):
    owner = UserFactory()
    campaign = campaign_with_many_chunks(owner)
    releases = tmp_path / "releases"
    first = start_worker(tmp_path, "first", releases, env=QUICK)
    try:
        job = jobs.export_job_create(
            campaign=campaign, created_by=owner, formats=["jsonl"], options={"batch_rows": 100}
        )
        wait_for(
            lambda: ExportJob.objects.get(pk=job.pk).progress > 0.25,
            60,
            "the build to start",
            tmp_path / "first.log",
        )
    finally:
        stop(first, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING and job.attempts == 1

    # A fresh worker heals it by itself: with beat, or from its start-up sweep alone.
    args = ("-B", f"--schedule={tmp_path / 'beat-schedule'}") if beat else ()
    second = start_worker(tmp_path, "second", releases, env=QUICK, args=args)
    try:
        wait_for(
            lambda: ExportJob.objects.get(pk=job.pk).is_finished,
            120,
            "the job to be requeued and built",
            tmp_path / "second.log",
        )
    finally:
        stop(second)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.attempts == 2 and job.message == "Published v1."
    assert job.worker.endswith(f":{second.pid}")  # built by the fresh worker
    assert "not heard from" in (tmp_path / "second.log").read_text()  # after a sweep
    assert Release.objects.count() == 1
    folder = releases / campaign.slug
    assert sorted(path.name for path in folder.iterdir()) == ["v1"]
    assert_same_bytes_as_a_fresh_build(job, folder / "v1", tmp_path / "reference")


# The sweep --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_slow_build_whose_worker_answers_is_never_requeued(settings, monkeypatch):
    settings.EXPORT_JOB_HEARTBEAT_SECONDS = 0.2
    monkeypatch.setenv(pipeline.PAUSE_ENV, "0.3")  # each of ten chunks takes longer
    job = jobs.export_job_create(
        campaign=campaign_with_many_chunks(UserFactory()),
        enqueue=False,
        options={"batch_rows": 100},
    )
    outcome = {}

    def build():
        try:
            outcome["job"] = jobs.export_job_run(job_id=job.pk)
        finally:
            connection.close()

    builder = threading.Thread(target=build)
    builder.start()
    sweeps, started = [], time.monotonic()
    while builder.is_alive():
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).exists():
            # Stale after a second: the build takes longer, its heartbeat does not.
            sweeps.append(jobs.export_jobs_requeue_stuck(stale_after=1.0))
        time.sleep(0.1)
    builder.join()
    assert time.monotonic() - started > 2, "the build was meant to outlast the threshold"
    assert len(sweeps) > 10
    assert all(not sweep.requeued and not sweep.failed for sweep in sweeps)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_not_heard_from_is_requeued_once_by_sweeps_running_at_once(
    preference_campaign,
    celery_on_redis,  # noqa: F811 (a broker and no worker: the test counts what is sent)
):
    job = running_job(preference_campaign, heard_seconds_ago=300)
    fresh = running_job(preference_campaign, heard_seconds_ago=1)
    start = threading.Barrier(4)
    results = []

    def sweep():
        try:
            start.wait()
            results.append(jobs.export_jobs_requeue_stuck())
        finally:
            connection.close()

    sweepers = [threading.Thread(target=sweep) for _ in range(4)]
    for sweeper in sweepers:
        sweeper.start()
    for sweeper in sweepers:
        sweeper.join()
    assert sorted(len(result.requeued) for result in results) == [0, 0, 0, 1]
    again = jobs.export_jobs_requeue_stuck()
    assert not again.requeued and not again.failed

    broker = redis.Redis.from_url(REDIS_URL)
    sent = [json.loads(raw)["headers"] for raw in broker.lrange("celery", 0, -1)]
    assert [(message["task"], message["argsrepr"]) for message in sent] == [
        ("aggregation.release_build", f"({job.pk},)")
    ]
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED and job.attempts == 1
    assert job.message.startswith("Requeued after its worker stopped answering")
    assert "attempt 2 of 3" in job.message
    fresh.refresh_from_db()
    assert fresh.status == ExportJob.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_sweep_passes_over_a_job_another_sweep_holds(preference_campaign):
    job = running_job(preference_campaign, heard_seconds_ago=300)
    with other_session() as other, other.transaction():
        other.execute("SELECT id FROM aggregation_exportjob WHERE id = %s FOR UPDATE", [job.pk])
        started = time.monotonic()
        result = jobs.export_jobs_requeue_stuck()
        assert time.monotonic() - started < 2  # skipped, not waited for
    assert not result.requeued
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_dead_builders_lingering_session_cannot_keep_the_requeued_build_out(
    preference_campaign,
):
    """A vanished machine's session keeps the job's lock until TCP gives up (hours);
    the sweep ends it, and the requeued build (in-process here: no broker) publishes."""
    job = running_job(preference_campaign, heard_seconds_ago=300)
    lingering = other_session()
    lingering.execute("SELECT pg_advisory_lock(%s, %s)", [jobs.LOCK_NAMESPACE, job.pk])
    assert not jobs.export_job_is_abandoned(job=job)

    result = jobs.export_jobs_requeue_stuck()

    assert [stuck.id for stuck in result.requeued] == [job.pk]
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")
    lingering.close()


@pytest.mark.django_db
def test_a_job_whose_worker_stopped_answering_on_every_attempt_fails_saying_so(
    preference_campaign, owner
):
    job = running_job(preference_campaign, heard_seconds_ago=300, attempts=3)
    result = jobs.export_jobs_requeue_stuck()
    assert [stuck.id for stuck in result.failed] == [job.pk] and not result.requeued
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.finished_at is not None
    assert "stopped answering on each of 3 attempts" in job.error
    page = client_for(owner).get("/campaigns/advice-pairs/releases/")
    assert "stopped answering on each of 3 attempts" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_requeue_stuck_jobs_command_rebuilds_what_a_killed_process_left_running(
    preference_campaign,
):
    """Without a broker a build runs in the web or command process; one killed with
    its job leaves it running, and the command (for cron) builds it in its own."""
    job = running_job(preference_campaign, heard_seconds_ago=300)
    out = _call("requeue_stuck_jobs")
    assert re.search(
        r"advice-pairs v1: requeued \(last heard from 30\d s ago, attempt 2 next\)", out
    )
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert _call("requeue_stuck_jobs") == "No stuck export job.\n"
    with pytest.raises(CommandError, match="at least two heartbeats"):
        _call("requeue_stuck_jobs", "--stale-after", "1")


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# What the researcher sees -------------------------------------------------------------------


def client_for(user) -> APIClient:
    """Signed in for the API and the pages alike."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_page_and_api_say_when_the_worker_was_last_heard_from(preference_campaign, owner):
    alive = running_job(preference_campaign, heard_seconds_ago=2)
    dead = running_job(preference_campaign, heard_seconds_ago=300, attempts=2)
    api = client_for(owner)

    polled = api.get(f"/api/v1/exports/{alive.pk}/").data
    assert 1.5 < polled["last_heard_seconds"] < 30 and polled["attempts"] == 1
    assert polled["stopped_answering"] is False and "worker" not in polled
    polled = api.get(f"/api/v1/exports/{dead.pk}/").data
    assert polled["last_heard_seconds"] >= 300 and polled["stopped_answering"] is True

    page = api.get("/campaigns/advice-pairs/releases/").content.decode()
    assert re.search(r"Last heard from \d+ s ago · attempt 1 of 3", page)
    assert re.search(
        r"Its worker stopped answering: last heard from 5 min ago.*attempt 2 of 3", page
    )
    campaign_page = api.get("/campaigns/advice-pairs/").content.decode()
    assert re.search(r"last heard from \d+ s ago · attempt 1 of 3", campaign_page)


@pytest.mark.django_db
def test_running_again_by_hand_waits_for_a_live_worker_but_not_for_a_dead_one(
    preference_campaign, owner
):
    job = running_job(preference_campaign, heard_seconds_ago=2)
    api = client_for(owner)
    with other_session() as builder:
        builder.execute("SELECT pg_advisory_lock(%s, %s)", [jobs.LOCK_NAMESPACE, job.pk])
        refused = api.post(f"/api/v1/exports/{job.pk}/retry/")
        assert refused.status_code == 409 and refused.data["field"] == "status"

        ExportJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now() - timedelta(seconds=300)
        )
        accepted = api.post(f"/api/v1/exports/{job.pk}/retry/")
        assert accepted.status_code == 202 and accepted.data["status"] == "queued"
        with pytest.raises(psycopg.OperationalError):
            builder.execute("SELECT 1")
