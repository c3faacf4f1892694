"""Audiences: define, edit, set target shares; invitation links for invite-only ones.

Researchers manage the audiences they created (`audiences_managed_by`); others'
audiences can be targeted by their campaigns but not changed here.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collection import services
from collection.permissions import audiences_managed_by
from workbench.access import (
    form_error,
    managed_audience,
    require_researcher,
)
from workbench.forms import AudienceForm, InvitationForm, format_schema, format_shares

# The service's names for the fields this form calls otherwise.
_SERVICE_FIELDS = {"attribute_schema": "attributes", "target_marginals": "targets"}


def _save_kwargs(data: dict) -> dict:
    return {
        "name": data["name"],
        "kind": data["kind"],
        "description": data["description"],
        "attribute_schema": data["attributes"],
        "target_marginals": data["targets"],
        "screened": data["screened"],
        "max_members": data["max_members"],
    }


@login_required
def audience_list(request: HttpRequest) -> HttpResponse:
    require_researcher(request)
    audiences = audiences_managed_by(request.user).order_by("slug")
    return render(request, "workbench/audience_list.html", {"audiences": audiences})


@login_required
def audience_create(request: HttpRequest) -> HttpResponse:
    require_researcher(request)
    form = AudienceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            audience = services.audience_create(
                slug=form.cleaned_data["slug"],
                created_by=request.user,
                **_save_kwargs(form.cleaned_data),
            )
        except services.ServiceError as error:
            form_error(form, error, _SERVICE_FIELDS)
        else:
            messages.success(request, f"Audience {audience.name} created.")
            return redirect("workbench:audience_detail", slug=audience.slug)
    return render(request, "workbench/audience_form.html", {"form": form, "audience": None})


@login_required
def audience_detail(request: HttpRequest, slug: str) -> HttpResponse:
    audience = managed_audience(request, slug)
    initial = {
        "slug": audience.slug,
        "name": audience.name,
        "kind": audience.kind,
        "description": audience.description,
        "attributes": format_schema(audience.attribute_schema),
        "targets": format_shares(audience.target_marginals),
        "screened": audience.screened,
        "max_members": audience.max_members,
    }
    form = AudienceForm(request.POST or None, initial=initial)
    form.fields["slug"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.audience_update(audience=audience, **_save_kwargs(form.cleaned_data))
        except services.ServiceError as error:
            form_error(form, error, _SERVICE_FIELDS)
        else:
            messages.success(request, "Saved.")
            return redirect("workbench:audience_detail", slug=audience.slug)
    invitations = [
        (
            invitation,
            request.build_absolute_uri(reverse("invitation_join", args=[invitation.token])),
        )
        for invitation in audience.invitations.order_by("-created_at")
    ]
    members = audience.memberships.select_related("invitation").order_by("joined_at")
    return render(
        request,
        "workbench/audience_form.html",
        {
            "form": form,
            "audience": audience,
            "invitations": invitations,
            "members": members,
            "invitation_form": InvitationForm(),
        },
    )


@login_required
@require_POST
def invitation_create(request: HttpRequest, slug: str) -> HttpResponse:
    audience = managed_audience(request, slug)
    form = InvitationForm(request.POST)
    if form.is_valid():
        services.invitation_create(audience=audience, created_by=request.user, **form.cleaned_data)
        messages.success(request, "Invitation link created.")
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    return redirect(reverse("workbench:audience_detail", args=[audience.slug]) + "#invitations")


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    audience = managed_audience(request, slug)
    invitation = get_object_or_404(audience.invitations, pk=invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, "Invitation revoked; people who joined through it stay.")
    return redirect(reverse("workbench:audience_detail", args=[audience.slug]) + "#invitations")
