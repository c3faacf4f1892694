"""Celery tasks: a few lines each, taking ids, safe to run twice."""

from celery import shared_task

from aggregation import services


@shared_task(name="aggregation.release_build")
def release_build(job_id: int) -> str | None:
    """Build and publish an export job's release (a second delivery finds it done)."""
    job = services.export_job_run(job_id=job_id)
    return job.status if job is not None else None
