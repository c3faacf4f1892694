"""My submissions, withdrawing from a campaign or the platform."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from collection import kinds, selectors, services
from collection.models import Assignment, Campaign, Consent, Participant, Response
from collection.views.common import _participant

SUBMISSIONS_PER_PAGE = 50


@login_required
def submissions(request: HttpRequest) -> HttpResponse:
    participant = _participant(request)
    responses = (
        Response.objects.filter(participant=participant)
        .select_related("campaign", "item")
        .order_by("-created_at", "-id")
    )
    page = Paginator(responses, SUBMISSIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"response": response, "answer": _answer_summary(response)} for response in page]
    withdrawn = set(
        participant.withdrawals.exclude(campaign=None).values_list("campaign_id", flat=True)
    )
    campaigns = (
        Campaign.objects.filter(
            Q(consents__participant=participant) | Q(responses__participant=participant)
        )
        .distinct()
        .order_by("name")
    )
    return render(
        request,
        "collection/submissions.html",
        {
            "page": page,
            "rows": rows,
            "campaigns": [
                {"campaign": campaign, "withdrawn": campaign.pk in withdrawn}
                for campaign in campaigns
            ],
            "platform_withdrawal": participant.withdrawals.filter(campaign__isnull=True).first(),
        },
    )


@login_required
def withdraw_campaign(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = get_object_or_404(Campaign, slug=slug)
    if not _took_part(participant, campaign):
        raise Http404("You have not taken part in this campaign.")
    return _withdraw(request, participant, campaign)


@login_required
def withdraw_platform(request: HttpRequest) -> HttpResponse:
    return _withdraw(request, _participant(request), None)


def _withdraw(
    request: HttpRequest, participant: Participant, campaign: Campaign | None
) -> HttpResponse:
    earlier = selectors.withdrawal_covering(participant=participant, campaign=campaign)
    if request.method == "POST" and earlier is None:
        withdrawal, _ = services.participant_withdraw(participant=participant, campaign=campaign)
        scope = campaign.name if campaign else "the platform"
        messages.success(
            request,
            f"You have withdrawn from {scope}. {withdrawal.responses_withdrawn} of your answers "
            "will be left out of every later release.",
        )
        return redirect("submissions")
    responses = Response.objects.filter(participant=participant, withdrawn_at__isnull=True)
    if campaign is not None:
        responses = responses.filter(campaign=campaign)
    return render(
        request,
        "collection/withdraw.html",
        {"campaign": campaign, "earlier": earlier, "response_count": responses.count()},
    )


def _took_part(participant: Participant, campaign: Campaign) -> bool:
    return (
        Consent.objects.filter(participant=participant, campaign=campaign).exists()
        or Assignment.objects.filter(participant=participant, campaign=campaign).exists()
    )


def _answer_summary(response: Response) -> list[tuple[str, str]]:
    """What a response said, as (label, text) pairs a person can read back."""
    payload = response.payload
    summary = kinds.get(response.campaign.item_kind).summary(response)
    if "rationale" in payload:
        summary.append(("Why", kinds.excerpt(payload["rationale"], 200)))
    if "confidence" in payload:
        summary.append(("Confidence", f"{payload['confidence']} of 5"))
    return summary
