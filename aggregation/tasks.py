"""Celery tasks: a few lines each, taking ids, safe to run twice."""

import dataclasses

from celery import shared_task

from aggregation import allocation
from aggregation.models import ExportJob
from aggregation.monitoring import services as monitoring
from aggregation.release import jobs
from collection.models import Campaign


@shared_task(name="aggregation.release_build", bind=True, max_retries=60)
def release_build(self, job_id: int) -> str | None:
    """Build and publish an export job's release (a second delivery finds it done).

    A delivery that finds the job's lock taken tries again shortly instead of
    being dropped: the lock may belong to a killed worker whose database session
    has not gone away yet, and the job would otherwise stay "running" for ever.
    """
    job = jobs.export_job_run(job_id=job_id)
    if (
        job is None
        and ExportJob.objects.filter(pk=job_id)
        .exclude(status__in=[ExportJob.Status.SUCCEEDED, ExportJob.Status.FAILED])
        .exists()
    ):
        raise self.retry(countdown=5)
    return job.status if job is not None else None


@shared_task(name="aggregation.coverage_alerts_record")
def coverage_alerts_record() -> dict:
    """Recompute open campaigns' metrics for the dashboard and record coverage alerts
    (run by Celery beat; a run that finds another one still going does nothing)."""
    results = monitoring.alerts_check_all()
    return {slug: dataclasses.asdict(result) for slug, result in results.items()}


@shared_task(name="aggregation.coverage_alerts_record_campaign")
def coverage_alerts_record_campaign(campaign_id: int) -> dict:
    """The same check for one campaign, queued by a page that found its metrics stale
    (safe to run twice: the check is idempotent)."""
    slugs = list(Campaign.objects.filter(pk=campaign_id).values_list("slug", flat=True))
    results = monitoring.alerts_check_all(slugs=slugs) if slugs else {}
    return {slug: dataclasses.asdict(result) for slug, result in results.items()}


@shared_task(name="aggregation.export_jobs_requeue_stuck")
def export_jobs_requeue_stuck() -> dict:
    """Requeue export jobs whose worker stopped answering (run by beat and by a starting
    worker; two runs at once requeue each job once)."""
    return dataclasses.asdict(jobs.export_jobs_requeue_stuck())


@shared_task(name="aggregation.adaptive_overlap_allocate")
def adaptive_overlap_allocate() -> dict:
    """Give items where audiences disagree more slots, in every open adaptive campaign
    (run by beat; safe to run twice: each (item, audience, k) is decided once)."""
    results = allocation.adaptive_overlap_allocate_all()
    return {slug: dataclasses.asdict(result) for slug, result in results.items()}


@shared_task(name="aggregation.adaptive_overlap_allocate_campaign")
def adaptive_overlap_allocate_campaign(campaign_id: int) -> dict:
    """The same pass for one campaign (for a caller that wants it sooner than beat)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return {}
    return dataclasses.asdict(allocation.adaptive_overlap_allocate(campaign=campaign))
