"""A researcher's release page for one campaign: start an export, watch it, download.

Owners of the campaign and staff only; everyone else gets 404. The page
refreshes itself while an export is queued or running.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aggregation import selectors, services
from aggregation.apis import release_file_response
from aggregation.models import FORMATS, KINDS_FOR_ITEM_KIND, ExportJob
from collection.services import ServiceError


def _campaign(request: HttpRequest, slug: str):
    campaign = selectors.campaign_for_researcher(user=request.user, slug=slug)
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


@login_required
def releases(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(request, slug)
    if request.method == "POST":
        try:
            min_cell = int(request.POST.get("min_cell_size") or 5)
        except ValueError:
            min_cell = -1
        try:
            services.export_job_create(
                campaign=campaign,
                created_by=request.user,
                audiences=request.POST.getlist("audiences") or None,
                formats=[name for name in request.POST.getlist("formats") if name],
                options={
                    "min_cell_size": min_cell,
                    "exclude_failed_attention": request.POST.get("include_failed") != "on",
                },
            )
        except ServiceError as error:
            messages.error(request, f"{error.field or 'Export'}: {error.message}")
        else:
            messages.success(request, "The export has started; this page updates itself.")
        return redirect("campaign_releases", slug=campaign.slug)
    jobs = list(selectors.export_jobs_for_campaign(campaign=campaign)[:20])
    busy = any(job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for job in jobs)
    return render(
        request,
        "aggregation/releases.html",
        {
            "campaign": campaign,
            "jobs": jobs,
            "busy": busy,
            "releases": selectors.releases_for_campaign(campaign=campaign),
            "audiences": campaign.audiences.order_by("slug"),
            "formats": [name for name in FORMATS if name != "parquet"],
            "kinds": KINDS_FOR_ITEM_KIND[campaign.item_kind],
        },
    )


@login_required
@require_POST
def release_retry(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    campaign = _campaign(request, slug)
    job = selectors.export_jobs_for_campaign(campaign=campaign).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    try:
        services.export_job_retry(job=job)
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("campaign_releases", slug=campaign.slug)


def _release(request: HttpRequest, slug: str, version: int):
    release = selectors.release_for_campaign(campaign=_campaign(request, slug), version=version)
    if release is None:
        raise Http404("No such release.")
    return release


@login_required
def release_download(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    release = _release(request, slug, version)
    return release_file_response(release, release.zip_name)


@login_required
def release_file(request: HttpRequest, slug: str, version: int, path: str) -> HttpResponse:
    release = _release(request, slug, version)
    if path != "manifest.json" and release.file_entry(path) is None:
        raise Http404("No such file in this release.")
    return release_file_response(release, path)
