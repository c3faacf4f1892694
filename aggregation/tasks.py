"""Celery tasks: a few lines each, taking ids, safe to run twice."""

import dataclasses

from celery import shared_task

from aggregation import alerts, services


@shared_task(name="aggregation.release_build")
def release_build(job_id: int) -> str | None:
    """Build and publish an export job's release (a second delivery finds it done)."""
    job = services.export_job_run(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="aggregation.coverage_alerts_record")
def coverage_alerts_record() -> dict:
    """Recompute open campaigns' metrics for the dashboard and record coverage alerts
    (run by Celery beat; a run that finds another one still going does nothing)."""
    results = alerts.alerts_check_all()
    return {slug: dataclasses.asdict(result) for slug, result in results.items()}
