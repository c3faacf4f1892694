"""The campaigns, export jobs and releases a researcher may see (by
`collection.permissions.campaigns_managed_by`, the one rule)."""

from __future__ import annotations

from django.db.models import QuerySet

from aggregation.models import ExportJob, Release
from collection.models import Campaign
from collection.permissions import campaigns_managed_by


def campaign_for_researcher(*, user, slug: str) -> Campaign | None:
    return campaigns_managed_by(user).filter(slug=slug).first()


def export_job_for_researcher(*, user, job_id: int) -> ExportJob | None:
    return (
        ExportJob.objects.filter(pk=job_id, campaign__in=campaigns_managed_by(user))
        .select_related("campaign", "release")
        .first()
    )


def export_jobs_for_campaign(*, campaign: Campaign) -> QuerySet[ExportJob]:
    return (
        ExportJob.objects.filter(campaign=campaign)
        .select_related("release")
        .prefetch_related("audiences")
    )


def releases_for_campaign(*, campaign: Campaign) -> QuerySet[Release]:
    return Release.objects.filter(campaign=campaign).order_by("-version")


def release_for_campaign(*, campaign: Campaign, version: int) -> Release | None:
    return Release.objects.filter(campaign=campaign, version=version).first()
