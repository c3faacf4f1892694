"""Who may open a workbench page: one rule, from `collection.permissions`.

Anything the user may not manage answers 404, exactly like a slug nobody used.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from collection.models import Audience, Campaign
from collection.permissions import audiences_managed_by, campaigns_managed_by, is_researcher
from collection.services import ServiceError


def require_researcher(request: HttpRequest) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("The workbench is for researchers.")


def managed_campaign(request: HttpRequest, slug: str) -> Campaign:
    require_researcher(request)
    campaign = campaigns_managed_by(request.user).filter(slug=slug).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def managed_audience(request: HttpRequest, slug: str) -> Audience:
    require_researcher(request)
    audience = audiences_managed_by(request.user).filter(slug=slug).first()
    if audience is None:
        raise Http404("No such audience.")
    return audience


def form_error(form, error: ServiceError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's refusal beside the field it names (or above the form).

    `aliases` maps a service field to the form field that edits it under another name,
    so the message sits under what the researcher typed, not above the form naming a
    field the page never shows.
    """
    field = (error.field or "").split(".")[0]
    if aliases and field in aliases:
        form.add_error(aliases[field], error.message)
        return
    form.add_error(
        field if field in form.fields else None,
        f"{error.field or ''}: {error.message}".lstrip(": "),
    )


def flash_error(request: HttpRequest, error: ServiceError) -> None:
    messages.error(request, f"{error.field}: {error.message}" if error.field else error.message)
