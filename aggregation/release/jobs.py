"""Export jobs: queueing, building under a lock, publishing, retrying; and the heartbeat
and sweep for jobs that lost their worker.

A release is built into a hidden folder beside its target, every file is
fsynced, and the folder is published with one ``os.rename``; only then is the
`Release` row written. A worker killed on the way leaves a hidden partial
folder (cleared by the next run of the job) and no release. A job holds a
PostgreSQL advisory lock while it builds, so a redelivered task never builds
the same release twice at once, and a job whose lock is free while it says
"running" is known to be abandoned and may be run again.

A worker killed with SIGKILL (or a machine that went away) cannot mark its job, which
then said "running" until someone retried it by hand or the broker's visibility timeout
(two hours) delivered the task again. So while a job runs, a thread in the building
process stamps `ExportJob.heartbeat_at` every EXPORT_JOB_HEARTBEAT_SECONDS over a
database connection of its own (the build's connection is busy streaming chunks, and
the build must not wait for the stamp). The sweep requeues running jobs not heard from
for EXPORT_JOB_STALE_SECONDS: a live worker keeps beating however slow its build is, so
it is never requeued. Both sides read the database's clock, so a worker whose clock is
off cannot look dead.

The dead build's database session may still hold the job's advisory lock. PostgreSQL
ends a killed client's backend as soon as the socket closes (a worker killed on a
running machine), but a machine that vanished leaves its backend waiting for TCP
keepalive, two hours by default; the requeued build would retry against the lock until
its task gave up, and the job would stay queued. So the sweep ends the session that
holds a stale job's lock (`pg_terminate_backend`) before it requeues the job.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.db.models.functions import Now
from django.utils import timezone

from aggregation.models import DEFAULT_OPTIONS, FORMATS, ExportJob, Release
from aggregation.release import files, pipeline
from aggregation.release import kinds as item_kinds
from aggregation.release.pipeline import Progress
from collection.models import Campaign
from collection.services import Conflict, ServiceError

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x52454C53  # "RELS": the advisory lock a job's builder holds
PROGRESS_EVERY_SECONDS = 0.5
LICENSE_PATTERN = re.compile(r"^[A-Za-z0-9.+-]{1,64}$")
# How long the sweep waits for a stale session it ended to be gone, so the requeued
# build (run in-process when there is no broker) finds the lock free.
TERMINATE_WAIT_MS = 5000


def holder_name() -> str:
    """Which process builds a job: "<host>:<pid>"."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


class Heartbeat:
    """While the block runs, stamps the job's heartbeat from a daemon thread.

    The stamp only lands while the job is still this attempt's (same attempt number
    and worker, still running), so a process that comes back after its job was
    requeued cannot make the new attempt look alive.
    """

    def __init__(self, *, job_id: int, attempt: int, worker: str, every: float | None = None):
        self.job_id = job_id
        self.attempt = attempt
        self.worker = worker
        self.every = settings.EXPORT_JOB_HEARTBEAT_SECONDS if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"export-job-{job_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 10)

    def beat(self) -> bool:
        try:
            return bool(
                ExportJob.objects.filter(
                    pk=self.job_id,
                    status=ExportJob.Status.RUNNING,
                    attempts=self.attempt,
                    worker=self.worker,
                ).update(heartbeat_at=Now())
            )
        except DatabaseError:
            # A database restart must not end the build; the next beat reconnects.
            logger.warning("could not stamp export job %s's heartbeat", self.job_id, exc_info=True)
            connection.close()
            return False

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                self.beat()
        finally:
            connection.close()  # this thread's own connection


@dataclasses.dataclass
class StuckJob:
    id: int
    campaign: str
    version: int
    last_heard_seconds: float
    attempts: int
    requeued: bool


@dataclasses.dataclass
class SweepResult:
    requeued: list[StuckJob] = dataclasses.field(default_factory=list)
    failed: list[StuckJob] = dataclasses.field(default_factory=list)


STUCK_JOBS_SQL = """
SELECT job.id, campaign.slug, job.version, job.attempts, job.worker,
       EXTRACT(EPOCH FROM now() - COALESCE(job.heartbeat_at, job.started_at, job.created_at))
FROM aggregation_exportjob job
JOIN collection_campaign campaign ON campaign.id = job.campaign_id
WHERE job.status = %(running)s
  AND COALESCE(job.heartbeat_at, job.started_at, job.created_at)
      < now() - make_interval(secs => %(stale)s)
ORDER BY job.id
FOR UPDATE OF job SKIP LOCKED
"""


def export_jobs_requeue_stuck(*, stale_after: float | None = None) -> SweepResult:
    """Requeue the running jobs whose worker stopped answering; fail those tried too often.

    Safe to run at any time and from several processes at once: each stuck job is
    locked (``SKIP LOCKED``) by the one sweep that requeues it, and a requeued job is
    no longer "running", so no sweep enqueues it twice.
    """
    stale = settings.EXPORT_JOB_STALE_SECONDS if stale_after is None else stale_after
    limit = settings.EXPORT_JOB_MAX_ATTEMPTS
    result = SweepResult()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(STUCK_JOBS_SQL, {"running": ExportJob.Status.RUNNING, "stale": stale})
        rows = cursor.fetchall()
        for job_id, slug, version, attempts, worker, heard in rows:
            heard = float(heard)
            export_job_end_stale_session(job_id=job_id)
            stuck = StuckJob(job_id, slug, version, round(heard, 1), attempts, attempts < limit)
            logger.warning(
                "export job %s (%s v%s) not heard from for %.0f s (worker %s, attempt %s of %s)",
                job_id,
                slug,
                version,
                heard,
                worker or "unknown",
                attempts,
                limit,
            )
            if stuck.requeued:
                ExportJob.objects.filter(pk=job_id).update(
                    status=ExportJob.Status.QUEUED,
                    progress=0.0,
                    message=(
                        f"Requeued after its worker stopped answering (last heard from "
                        f"{heard:.0f} s ago); attempt {attempts + 1} of {limit} is next."
                    )[:300],
                    worker="",
                    finished_at=None,
                )
                _enqueue(job_id)
                result.requeued.append(stuck)
            else:
                ExportJob.objects.filter(pk=job_id).update(
                    status=ExportJob.Status.FAILED,
                    message="Failed: its worker stopped answering.",
                    error=(
                        f"The worker building this export stopped answering on each of "
                        f"{attempts} attempts (the last one was heard from {heard:.0f} s ago). "
                        "Run it again once the workers are healthy."
                    ),
                    worker="",
                    finished_at=timezone.now(),
                )
                result.failed.append(stuck)
    return result


def export_job_stopped_answering(*, job_id: int, stale_after: float | None = None) -> bool:
    """True when the job is running and its worker has not been heard from for too long."""
    stale = settings.EXPORT_JOB_STALE_SECONDS if stale_after is None else stale_after
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(heartbeat_at, started_at, created_at)
                   < now() - make_interval(secs => %s)
            FROM aggregation_exportjob WHERE id = %s AND status = %s
            """,
            [stale, job_id, ExportJob.Status.RUNNING],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def export_job_end_stale_session(*, job_id: int) -> int:
    """End the database sessions (other than this one) holding the job's lock; how many.

    Only for a job whose worker stopped answering: a live build whose session ends
    fails. Without the privilege to end the session (another database role), the
    requeued build waits for the lock as before.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT pg_terminate_backend(pid, %s) FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
                  AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2
                """,
                [TERMINATE_WAIT_MS, LOCK_NAMESPACE, job_id],
            )
            return len(cursor.fetchall())
    except DatabaseError:
        logger.warning("could not end the session holding export job %s", job_id, exc_info=True)
        return 0


def _enqueue(job_id: int) -> None:
    # Imported here: the task module imports this one.
    from aggregation.tasks import release_build

    transaction.on_commit(lambda: release_build.delay(job_id))


# Queueing, building and publishing ---------------------------------------------------


def _clean_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ServiceError(
            f"Unknown option; expected one of {', '.join(sorted(DEFAULT_OPTIONS))}.",
            field=f"options.{unknown[0]}",
        )
    clean = dict(DEFAULT_OPTIONS)
    limits = {
        "min_cell_size": (1, 1000),
        "attention_failures_allowed": (0, 1000),
        "batch_rows": (100, 1_000_000),
        "seed": (0, 2**32 - 1),
        "min_pairable_units": (1, 1_000_000),
        "split_seed": (0, 2**31 - 1),
        "test_percent": (1, 50),
        "context_judgements": (1, 1000),
        "icl_examples": (1, 64),
    }
    for name, (low, high) in limits.items():
        value = options.get(name, clean[name])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ServiceError(
                f"Must be a whole number from {low} to {high}.", field=f"options.{name}"
            )
        clean[name] = value
    flag = options.get("exclude_failed_attention", clean["exclude_failed_attention"])
    if not isinstance(flag, bool):
        raise ServiceError("Must be true or false.", field="options.exclude_failed_attention")
    clean["exclude_failed_attention"] = flag
    split_views = options.get("split_views", clean["split_views"])
    if split_views not in (True, False, "auto"):
        raise ServiceError('Must be true, false or "auto".', field="options.split_views")
    clean["split_views"] = split_views
    license_id = options.get("license", clean["license"])
    if not isinstance(license_id, str) or not LICENSE_PATTERN.match(license_id):
        raise ServiceError("Give a licence identifier such as cc-by-4.0.", field="options.license")
    clean["license"] = license_id
    return clean


def export_job_create(
    *,
    campaign: Campaign,
    created_by=None,
    audiences: list[str] | None = None,
    kinds: list[str] | None = None,
    formats: list[str] | None = None,
    options: dict | None = None,
    enqueue: bool = True,
) -> ExportJob:
    """Queue the campaign's next release; the build starts once this transaction commits
    (``enqueue=False``: the caller runs `export_job_run` itself, as the command does)."""
    targets = {audience.slug: audience for audience in campaign.audiences.all()}
    if not targets:
        raise ServiceError("The campaign targets no audience yet.", field="audiences")
    chosen = []
    for slug in audiences or []:
        if slug not in targets:
            raise ServiceError(
                f"{slug!r} is not an audience of this campaign; choose from "
                f"{', '.join(sorted(targets))}.",
                field="audiences",
            )
        chosen.append(targets[slug])
    allowed_kinds = item_kinds.dataset_names(campaign.item_kind)
    for kind in kinds or []:
        if kind not in allowed_kinds:
            raise ServiceError(
                f"{kind!r} does not fit a {campaign.item_kind} campaign; choose from "
                f"{', '.join(allowed_kinds)}.",
                field="kinds",
            )
    for name in formats or []:
        if name not in FORMATS:
            raise ServiceError(f"Choose from {', '.join(FORMATS)}.", field="formats")
    clean_options = _clean_options(options)
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        latest = ExportJob.objects.filter(campaign=campaign).aggregate(v=Max("version"))["v"]
        job = ExportJob.objects.create(
            campaign=campaign,
            created_by=created_by,
            kinds=[kind for kind in allowed_kinds if not kinds or kind in kinds],
            formats=[name for name in FORMATS if name == "parquet" or name in (formats or [])],
            options=clean_options,
            version=(latest or 0) + 1,
            message="Waiting for a worker.",
        )
        job.audiences.set(sorted(chosen, key=lambda audience: audience.slug))
        if enqueue:
            _enqueue(job.pk)
    return job


def export_job_is_abandoned(*, job: ExportJob) -> bool:
    """True when the job says queued or running but no process holds its lock."""
    if job.is_finished:
        return False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job.pk])
        return bool(cursor.fetchone()[0])


def export_job_retry(*, job: ExportJob) -> ExportJob:
    """Run a failed (or abandoned) job again: same version, same bytes."""
    if job.status == ExportJob.Status.SUCCEEDED:
        raise Conflict("This export has succeeded already.", field="status")
    if job.status == ExportJob.Status.RUNNING and not export_job_is_abandoned(job=job):
        if not export_job_stopped_answering(job_id=job.pk):
            raise Conflict("This export is running.", field="status")
        export_job_end_stale_session(job_id=job.pk)
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.QUEUED,
            progress=0.0,
            message="Waiting for a worker.",
            error="",
            worker="",
            finished_at=None,
        )
        _enqueue(job.pk)
    job.refresh_from_db()
    return job


def _try_lock(job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job_id])
        return bool(cursor.fetchone()[0])


def _unlock(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, job_id])


def export_job_run(*, job_id: int, progress: Progress | None = None) -> ExportJob | None:
    """Build and publish the job's release (the Celery task's body); safe to run twice.

    Returns the job, or None when there is no such job or another process is
    building it right now.
    """
    if not ExportJob.objects.filter(pk=job_id).exists():
        return None
    connection.ensure_connection()
    if not _try_lock(job_id):
        logger.info("export job %s is being built by another process", job_id)
        return None
    try:
        with transaction.atomic():
            job = ExportJob.objects.select_for_update().select_related("campaign").get(pk=job_id)
            if job.status == ExportJob.Status.SUCCEEDED:
                return job
            job.status = ExportJob.Status.RUNNING
            job.attempts += 1
            job.started_at = timezone.now()
            job.finished_at = None
            job.progress = 0.0
            job.error = ""
            job.message = "Starting."
            job.worker = holder_name()
            job.save()
            ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=Now())
        with Heartbeat(job_id=job.pk, attempt=job.attempts, worker=job.worker):
            return _build_and_publish(job, progress)
    finally:
        _unlock(job_id)


def _job_progress(job: ExportJob, extra: Progress | None) -> Progress:
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if extra is not None:
            extra(fraction, message)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS or fraction >= 1.0:
            last[0] = now
            ExportJob.objects.filter(pk=job.pk).update(progress=fraction, message=message[:300])

    return report


def _build_and_publish(job: ExportJob, extra: Progress | None) -> ExportJob:
    root = Path(settings.RELEASES_ROOT) / job.campaign.slug
    name = f"v{job.version}"
    target = root / name
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f".{name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    partial = root / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    report = _job_progress(job, extra)
    try:
        summary = pipeline.release_write(job=job, directory=partial, progress=report)
        files.fsync_tree(partial)
        if target.exists():
            # Published by an attempt that died before recording it: replace it.
            stale = root / f".{name}.stale-{uuid.uuid4().hex[:8]}"
            os.rename(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(partial, target)
        files.fsync_dir(root)
        with transaction.atomic():
            release = Release.objects.create(
                campaign=job.campaign,
                job=job,
                version=job.version,
                path=f"{job.campaign.slug}/{name}",
                files=summary["files"],
                counts=summary["counts"],
                size_bytes=summary["size_bytes"],
                zip_name=summary["zip_name"],
                zip_bytes=summary["zip_bytes"],
                withdrawn_since_previous=summary["counts"]["withdrawn_since_previous"],
                snapshot_at=job.snapshot_at,
            )
            release.audiences.set(summary["audience_ids"])
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.SUCCEEDED,
                progress=1.0,
                message=f"Published {name}.",
                finished_at=timezone.now(),
                release_path=release.path,
            )
    except Exception as error:
        logger.exception("export job %s failed", job.pk)
        shutil.rmtree(partial, ignore_errors=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED,
            message="Failed.",
            error=f"{type(error).__name__}: {error}"[:5000],
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job
