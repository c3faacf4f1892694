"""The flags queue: items participants flagged, with their reasons, and what the
campaign's researchers decided (exclude, correct the text, or dismiss)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from collection import selectors, services
from workbench.access import flash_error, managed_campaign
from workbench.forms import ItemEditForm


@login_required
def flag_queue(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    return render(
        request,
        "workbench/flag_queue.html",
        {"campaign": campaign, "flags": selectors.flags_open(campaign=campaign)},
    )


@login_required
@require_POST
def flag_resolve(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    item = get_object_or_404(campaign.items, pk=item_id)
    action = request.POST.get("action")
    try:
        if action == "exclude":
            services.item_exclude(item=item)
            messages.success(request, "The item is excluded from later releases.")
        elif action == "dismiss":
            services.flag_dismiss(item=item)
            messages.success(request, "Flag dismissed; the item stays as it is.")
        elif action == "edit":
            form = ItemEditForm(request.POST)
            if not form.is_valid():
                raise services.ServiceError("Write the corrected text.", field="prompt")
            new = services.item_new_version(item=item, prompt=form.cleaned_data["prompt"])
            messages.success(
                request,
                f"Version {new.version} of the item is served from now on; earlier "
                "judgements stay with the old text.",
            )
        else:
            raise services.ServiceError("Choose exclude, edit or dismiss.", field="action")
    except services.ServiceError as error:
        flash_error(request, error)
    return redirect("workbench:flag_queue", slug=campaign.slug)
