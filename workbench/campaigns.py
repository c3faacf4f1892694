"""Campaigns: create and edit (a form in four steps), open, pause, close, duplicate.

Instructions are Markdown, rendered here with HTML disabled, so what a researcher
previews is what participants read and nothing in it can run.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collection import services
from collection.markdown import render_markdown
from collection.models import Campaign
from collection.permissions import audiences_visible_to
from collection.views.common import _next_url
from workbench.access import (
    flash_error,
    form_error,
    managed_campaign,
    require_researcher,
)
from workbench.forms import (
    CampaignForm,
    DuplicateForm,
    adaptive_initial,
    adaptive_setting,
    campaign_fields,
)


def _target_rows(request: HttpRequest, campaign: Campaign | None) -> list[dict]:
    current, released = {}, {}
    if campaign is not None:
        for target in campaign.targets.all():
            current[target.audience_id] = target.overlap_k
            released[target.audience_id] = target.quota_release_at
    rows = []
    for audience in audiences_visible_to(request.user).order_by("slug"):
        if request.method == "POST":
            chosen = audience.slug in request.POST.getlist("target")
            k = request.POST.get(f"k-{audience.slug}", "")
        else:
            chosen = audience.pk in current
            k = str(current.get(audience.pk, 3))
        rows.append(
            {
                "audience": audience,
                "chosen": chosen,
                "k": k,
                "targeted": audience.pk in current,
                # Public audiences with targets hold quotas; the researcher may release them.
                "quotas": audience.kind == audience.Kind.PUBLIC and bool(audience.target_marginals),
                "quota_release_at": released.get(audience.pk),
            }
        )
    return rows


def _chosen_targets(rows: list[dict]) -> dict:
    """Audience -> k for each ticked row; ServiceError names the row's field."""
    targets = {}
    for row in rows:
        if not row["chosen"]:
            continue
        try:
            k = int(row["k"])
        except ValueError:
            k = 0
        if not 1 <= k <= 1000:
            raise services.ServiceError(
                f"k for {row['audience'].slug} must be a whole number from 1 to 1000.",
                field="targets",
            )
        targets[row["audience"]] = k
    return targets


def _form_page(request, form, rows, campaign) -> HttpResponse:
    preview = None
    if request.method == "POST" and "preview" in request.POST:
        preview = render_markdown(request.POST.get("instructions", ""))
    return render(
        request,
        "workbench/campaign_form.html",
        {"form": form, "rows": rows, "campaign": campaign, "preview": preview},
    )


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_researcher(request)
    form = CampaignForm(request.POST or None)
    rows = _target_rows(request, None)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.campaign_create(
                slug=data["slug"],
                name=data["name"],
                item_kind=data["item_kind"],
                owners=[request.user],
                targets=_chosen_targets(rows),
                adaptive=adaptive_setting(data),
                **campaign_fields(data),
            )
        except services.ServiceError as error:
            form_error(form, error)
        else:
            messages.success(request, f"Draft campaign {campaign.name} created. Import items next.")
            return redirect("workbench:item_import", slug=campaign.slug)
    return _form_page(request, form, rows, None)


@login_required
def campaign_edit(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    initial = {
        name: getattr(campaign, name)
        for name in CampaignForm.base_fields
        if not name.startswith("adaptive")
    } | adaptive_initial(campaign)
    form = CampaignForm(request.POST or None, initial=initial)
    for name in CampaignForm.FIELDS_FIXED_AFTER_CREATION:
        form.fields[name].disabled = True
    rows = _target_rows(request, campaign)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        data = form.cleaned_data
        try:
            targets = _chosen_targets(rows)
            with transaction.atomic():
                services.campaign_update(
                    campaign=campaign, fields={"name": data["name"], **campaign_fields(data)}
                )
                for audience, k in targets.items():
                    services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
                for target in campaign.targets.select_related("audience"):
                    if target.audience not in targets:
                        services.campaign_target_remove(campaign=campaign, audience=target.audience)
                # After the targets: the maximum k is checked against their base k.
                services.campaign_set_adaptive(campaign=campaign, setting=adaptive_setting(data))
        except services.ServiceError as error:
            form_error(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("campaign_detail", slug=campaign.slug)
    return _form_page(request, form, rows, campaign)


@login_required
@require_POST
def campaign_release_quotas(request: HttpRequest, slug: str, audience_slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    target = get_object_or_404(
        campaign.targets.select_related("audience"), audience__slug=audience_slug
    )
    services.campaign_release_quotas(campaign=campaign, audience=target.audience)
    messages.success(
        request,
        f"Quotas of {target.audience.name} released: any member may now take the remaining "
        "places, so the sample drifts from the targets.",
    )
    # Back where the button was (the campaign page or the dashboard), if on this site.
    return redirect(_next_url(request, reverse("workbench:campaign_edit", args=[campaign.slug])))


@login_required
@require_POST
def campaign_status(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    status = request.POST.get("status", "")
    if status not in Campaign.Status.values:
        flash_error(request, services.ServiceError(f"Unknown status {status!r}.", field="status"))
    else:
        try:
            services.campaign_set_status(campaign=campaign, status=status)
        except services.ServiceError as error:
            flash_error(request, error)
        else:
            messages.success(request, f"The campaign is {campaign.get_status_display().lower()}.")
    return redirect("campaign_detail", slug=campaign.slug)


@login_required
def campaign_duplicate(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    form = DuplicateForm(
        request.POST or None,
        initial={"slug": f"{campaign.slug}-copy"[:64], "name": f"{campaign.name} (copy)"[:200]},
    )
    if request.method == "POST" and form.is_valid():
        try:
            copy = services.campaign_duplicate(
                campaign=campaign,
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                owner=request.user,
            )
        except services.ServiceError as error:
            form_error(form, error)
        else:
            messages.success(request, f"Draft copy {copy.name} created, with no items.")
            return redirect("workbench:campaign_edit", slug=copy.slug)
    return render(
        request, "workbench/campaign_duplicate.html", {"form": form, "campaign": campaign}
    )
