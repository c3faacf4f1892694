"""What every annotator page shares: the signed-in participant, a safe `next` URL, the
refusal page, and the campaign a participant may use."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from collection import services
from collection.models import Campaign, Participant
from collection.permissions import campaigns_open_to


def _posted(request: HttpRequest):
    # Not `request.POST or None`: an empty POST must still bind, so it fails validation.
    return request.POST if request.method == "POST" else None


def _participant(request: HttpRequest) -> Participant:
    return services.participant_get_or_create(user=request.user)


def _next_url(request: HttpRequest, default: str) -> str:
    """The ``next`` parameter if it points back into this site, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _problem(
    request: HttpRequest, message: str, status: int, campaign: Campaign | None = None
) -> HttpResponse:
    return render(
        request,
        "collection/problem.html",
        {"message": message, "campaign": campaign, "status": status},
        status=status,
    )


# Reads this web UI needs. They are small and specific to these pages; move them to
# collection/selectors/ if another caller appears.


def _campaign_for(participant: Participant, slug: str) -> Campaign:
    """A campaign the participant may use (`permissions.campaigns_open_to`, as the API).

    Anything else is a 404, so the pages do not reveal which campaigns exist.
    """
    campaign = campaigns_open_to(participant.user).filter(slug=slug).first()
    if campaign is None:
        raise Http404("This campaign is not open to your audiences.")
    return campaign
