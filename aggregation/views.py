"""Researchers' campaign pages and the admins' coverage dashboard.

The release page (start an export, watch it, download) and the campaign page
(progress, coverage against targets, alerts, release history) are for the
campaign's researchers and staff only (`collection.permissions`); everyone else
gets 404, as if the campaign did not exist. The release page refreshes itself
while an export is queued or running. The coverage dashboard across all open
campaigns is for staff.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from markdown_it import MarkdownIt

from aggregation import alerts, dashboard, selectors, tasks
from aggregation.apis import release_file_response
from aggregation.models import FORMATS, ExportJob
from aggregation.monitoring import selectors as monitoring
from aggregation.release import jobs
from aggregation.release import kinds as item_kinds
from collection.permissions import campaigns_managed_by, is_admin, is_researcher
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
            job = jobs.export_job_create(
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
            _say_how_the_export_stands(request, job)
        return redirect("campaign_releases", slug=campaign.slug)
    recent = list(selectors.export_jobs_for_campaign(campaign=campaign)[:20])
    busy = any(job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) for job in recent)
    return render(
        request,
        "aggregation/releases.html",
        {
            "campaign": campaign,
            "jobs": recent,
            "busy": busy,
            "releases": selectors.releases_for_campaign(campaign=campaign),
            "audiences": campaign.audiences.order_by("slug"),
            "formats": [name for name in FORMATS if name != "parquet"],
            "kinds": item_kinds.dataset_names(campaign.item_kind),
        },
    )


def _say_how_the_export_stands(request: HttpRequest, job: ExportJob) -> None:
    # Without a broker the build ran in-process before the create returned; with one it
    # may be running or done already. Say what is true now.
    job.refresh_from_db()
    if job.status == ExportJob.Status.SUCCEEDED:
        messages.success(request, f"Release v{job.version} is published.")
    elif job.status == ExportJob.Status.FAILED:
        messages.error(request, f"Release v{job.version} failed: {job.error}")
    else:
        messages.info(
            request,
            f"Release v{job.version} is {job.get_status_display().lower()}; "
            "this page updates itself until it is published.",
        )


@login_required
@require_POST
def release_retry(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    campaign = _campaign(request, slug)
    job = selectors.export_jobs_for_campaign(campaign=campaign).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    try:
        jobs.export_job_retry(job=job)
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("campaign_releases", slug=campaign.slug)


def _release(request: HttpRequest, slug: str, version: int):
    release = selectors.release_for_campaign(campaign=_campaign(request, slug), version=version)
    if release is None:
        raise Http404("No such release.")
    return release


# markdown-it's "js-default" preset (tables, strikethrough) with HTML off: any tag in the
# card's text shows as text, and validateLink refuses javascript: and data: URLs.
_card_markdown = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})


def card_html(markdown: str, *, files_url: str) -> tuple[str, str]:
    """The card's YAML header as text, and its body as escaped HTML whose relative links
    and images (``plots/coverage.png``) point at the release's files."""
    header = ""
    if markdown.startswith("---\n"):
        end = markdown.find("\n---\n", 4)
        if end != -1:
            header, markdown = markdown[4:end], markdown[end + 5 :]
    tokens = _card_markdown.parse(markdown)
    for token in tokens:
        for child in token.children or []:
            name = {"image": "src", "link_open": "href"}.get(child.type)
            target = child.attrGet(name) if name else None
            relative = isinstance(target, str) and target and ":" not in target.split("/")[0]
            if relative and not target.startswith(("/", "#")):
                child.attrSet(name, files_url + target)
    body = _card_markdown.renderer.render(tokens, _card_markdown.options, {})
    return header, mark_safe(body)  # markdown-it escaped every text


@login_required
@require_GET
def release_card(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    """The release's README.md as a page: the same text, rendered and escaped."""
    release = _release(request, slug, version)
    path = release.directory / "README.md"
    if not path.is_file():
        raise Http404("This file is missing from the release folder.")
    files_url = reverse("campaign_release_file", args=[slug, version, "README.md"])
    header, body = card_html(
        path.read_text(encoding="utf-8"), files_url=files_url.removesuffix("README.md")
    )
    return render(
        request,
        "aggregation/release_card.html",
        {"campaign": release.campaign, "release": release, "header": header, "body": body},
    )


@login_required
def release_legacy(request: HttpRequest, slug: str, version: int, path: str = "") -> HttpResponse:
    """The old ``.../releases/v1/...`` links, answered at the API's ``.../releases/1/...``."""
    release = _release(request, slug, version)
    if path:
        target = reverse("campaign_release_file", args=[slug, release.version, path])
    else:
        target = reverse("campaign_release_download", args=[slug, release.version])
    return redirect(target, permanent=True)


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


# Dashboard and campaign pages ------------------------------------------------------


def _rules() -> dict:
    limits = alerts.thresholds()
    return {
        "limits": limits,
        "under_points": round(limits.under_points * 100, 1),
        "under_ratio": round(limits.under_ratio * 100),
        "dominance_share": round(limits.dominance_share * 100, 1),
        "snapshot_minutes": int(dashboard.SNAPSHOT_MAX_AGE.total_seconds() // 60),
    }


def _queue_refreshes(boards) -> None:
    """Stale stored metrics of a campaign too large to compute on view: ask a worker for
    the periodic check of that campaign (once per SNAPSHOT_MAX_AGE), so the numbers
    catch up without `make beat`. Without a broker a task would run here, inside a GET
    that must not write, so the page only says how old its numbers are. The same holds
    when tasks run eagerly (tests, or a broker URL with eager tasks)."""
    task = tasks.coverage_alerts_record_campaign
    if not settings.CELERY_BROKER_URL or task.app.conf.task_always_eager:
        return
    for board in boards:
        if board.snapshot_live or not board.snapshot_stale:
            continue
        wait = int(dashboard.SNAPSHOT_MAX_AGE.total_seconds())
        if cache.add(f"dashboard:refresh-queued:{board.campaign_id}", True, wait):
            task.delay(board.campaign_id)


@login_required
@require_GET
def coverage_dashboard(request: HttpRequest) -> HttpResponse:
    if not is_admin(request.user):
        raise PermissionDenied("The coverage dashboard is for staff.")
    boards = dashboard.with_live_quotas(dashboard.dashboard_boards(staff=True))
    _queue_refreshes(boards)
    return render(
        request,
        "aggregation/dashboard.html",
        {"boards": boards, "alerts": dashboard.dashboard_alerts(boards=boards), **_rules()},
    )


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    if not is_researcher(request.user):
        raise PermissionDenied("This page lists the campaigns you run.")
    return render(
        request,
        "aggregation/campaign_list.html",
        {"rows": monitoring.campaign_summaries(campaigns=campaigns_managed_by(request.user))},
    )


@login_required
@require_GET
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(request, slug)
    board = dashboard.campaign_board(campaign=campaign, staff=is_admin(request.user))
    dashboard.with_live_quotas([board])
    _queue_refreshes([board])
    return render(
        request,
        "aggregation/campaign_detail.html",
        {
            "campaign": campaign,
            "board": board,
            "jobs": list(selectors.export_jobs_for_campaign(campaign=campaign)[:10]),
            **_rules(),
        },
    )


@login_required
@require_GET
def campaign_chart(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One chart of a campaign's board as SVG; the URL carries the chart's version."""
    campaign = _campaign(request, slug)
    board = dashboard.campaign_board(campaign=campaign, staff=is_admin(request.user))
    spec = board.chart(name)
    if spec is None:
        raise Http404("No such chart.")
    response = HttpResponse(dashboard.chart_svg(spec), content_type="image/svg+xml")
    # Opened on its own, the picture may not run anything, whatever its labels say.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    if request.GET.get("v") == spec.version:
        response["Cache-Control"] = "private, max-age=86400, immutable"
    else:
        response["Cache-Control"] = "private, no-cache"
    return response
