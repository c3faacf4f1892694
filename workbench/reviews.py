"""Reviewing demonstrations: accept or reject; rejected ones leave later releases."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from collection import kinds, selectors, services
from collection.models import Response
from workbench.access import flash_error, managed_campaign

SHOWN = 50


@login_required
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    shown = request.GET.get("show", "")
    if shown not in ("", *Response.Review.values):
        shown = ""
    responses = selectors.demonstrations_to_review(campaign=campaign, review=shown)
    return render(
        request,
        "workbench/review_queue.html",
        {
            "campaign": campaign,
            "responses": responses[:SHOWN],
            "total": responses.count(),
            "shown": shown,
            "is_demonstration": kinds.get(campaign.item_kind).reviewed,
        },
    )


@login_required
@require_POST
def review_submit(request: HttpRequest, slug: str, response_id: int) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    response = get_object_or_404(
        campaign.responses.filter(withdrawn_at__isnull=True), pk=response_id
    )
    try:
        services.response_review(response=response, review=request.POST.get("review", ""))
    except services.ServiceError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"Demonstration {response.review}.")
    return redirect("workbench:review_queue", slug=campaign.slug)
