"""Export jobs that lost their worker: the heartbeat that shows a build is alive, and
the sweep that requeues the jobs not heard from.

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
import socket
import threading

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from aggregation.models import ExportJob

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x52454C53  # "RELS": the advisory lock a job's builder holds
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
    # Imported here: the task module imports services, which import this module.
    from aggregation.tasks import release_build

    transaction.on_commit(lambda: release_build.delay(job_id))
