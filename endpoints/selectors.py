"""Reads: which endpoints and jobs a user may see, and a job's progress."""

from __future__ import annotations

import dataclasses

from django.db.models import Count, Q, QuerySet

from collection.permissions import campaigns_managed_by, is_admin, is_researcher
from endpoints.models import GenerationJob, GenerationRequest, ModelEndpoint


def endpoints_usable_by(user) -> QuerySet[ModelEndpoint]:
    """A researcher's own endpoints (an admin's: all). Endpoints are not shared: one
    holds its owner's API key, and spending it is the owner's decision."""
    if is_admin(user):
        return ModelEndpoint.objects.all()
    if not is_researcher(user):
        return ModelEndpoint.objects.none()
    return ModelEndpoint.objects.filter(owner=user)


def generation_jobs_visible_to(user) -> QuerySet[GenerationJob]:
    """Jobs of the campaigns the user manages (by the one campaign rule)."""
    return GenerationJob.objects.filter(campaign__in=campaigns_managed_by(user)).select_related(
        "campaign"
    )


@dataclasses.dataclass(frozen=True)
class JobProgress:
    requests_total: int
    succeeded: int
    failed: int
    pending: int
    items_total: int
    items_done: int
    errors: list[dict]

    @property
    def fraction(self) -> float:
        if not self.requests_total:
            return 1.0
        return (self.succeeded + self.failed) / self.requests_total


def generation_job_progress(*, job: GenerationJob, error_rows: int = 20) -> JobProgress:
    counts = GenerationRequest.objects.filter(job=job).aggregate(
        succeeded=Count("id", filter=Q(status=GenerationRequest.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=GenerationRequest.Status.FAILED)),
        pending=Count("id", filter=Q(status=GenerationRequest.Status.PENDING)),
        items_done=Count("item", filter=Q(applied=True), distinct=True),
    )
    errors = list(
        GenerationRequest.objects.filter(job=job)
        .exclude(error="")
        .values("endpoint__name", "error")
        .annotate(requests=Count("id"))
        .order_by("-requests", "endpoint__name", "error")[:error_rows]
    )
    return JobProgress(
        requests_total=job.requests_total,
        succeeded=counts["succeeded"],
        failed=counts["failed"],
        pending=counts["pending"],
        items_total=job.items_total,
        items_done=counts["items_done"],
        errors=[
            {"endpoint": row["endpoint__name"], "error": row["error"], "requests": row["requests"]}
            for row in errors
        ],
    )
