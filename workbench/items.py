"""The item browser, one item's votes per audience, and one participant's judgements.

People appear only as the pseudonym the campaign's newest release gives them
(`aggregation.release.privacy.pseudonym` under that release's key), so a researcher can find
the same person in the release; before any release, under a key derived from the
site's secret and the campaign. Usernames and e-mail addresses never appear.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from aggregation.models import ExportJob
from aggregation.release.privacy import pseudonym
from collection import kinds, selectors
from collection.models import Campaign, Response
from workbench.access import managed_campaign
from workbench.forms import ItemFilterForm

PAGE_SIZE = 50


def pseudonym_key(campaign: Campaign) -> tuple[str, int | None]:
    """(key, release version): the newest published release's key, else the campaign's."""
    job = (
        ExportJob.objects.filter(campaign=campaign, status=ExportJob.Status.SUCCEEDED)
        .order_by("-version")
        .first()
    )
    if job is not None:
        return job.pseudonym_key, job.version
    key = hmac.new(
        settings.SECRET_KEY.encode(), f"workbench-pseudonyms:{campaign.pk}".encode(), hashlib.sha256
    )
    return key.hexdigest(), None


@login_required
def item_list(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    form = ItemFilterForm(request.GET or None)
    audiences = campaign.audiences.order_by("slug")
    form.fields["audience"].choices = [("", "Any audience")] + [
        (str(audience.pk), audience.name) for audience in audiences
    ]
    filters = selectors.ItemFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.ItemFilters(
            search=data["q"].strip(),
            audience=int(data["audience"]) if data["audience"] else None,
            status=data["status"],
            flagged=data["flagged"],
            attention_check={"only": True, "none": False}.get(data["attention"]),
        )
    page = Paginator(
        selectors.items_for_browser(campaign=campaign, filters=filters), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "workbench/item_list.html",
        {"campaign": campaign, "form": form, "page": page, "query": query.urlencode()},
    )


def _responses_with_pseudonyms(campaign: Campaign, responses) -> tuple[list[tuple], int | None]:
    key, version = pseudonym_key(campaign)
    rows = [
        (response, pseudonym(key, response.participant_id, response.audience_id))
        for response in responses
    ]
    return rows, version


def _with_summaries(responses) -> list[Response]:
    """Each response with ``summary``: its answer in words, as the annotator's own
    submissions page says it (the item kind's summary), not the stored JSON."""
    found = list(responses)
    for response in found:
        response.summary = kinds.get(response.campaign.item_kind).summary(response)
        if response.payload.get("confidence") is not None:
            response.summary.append(("Confidence", f"{response.payload['confidence']} of 5"))
    return found


@login_required
def item_detail(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    item = get_object_or_404(campaign.items, pk=item_id)
    responses = (
        item.responses.filter(withdrawn_at__isnull=True)
        .select_related("audience", "campaign")
        .order_by("audience__slug", "created_at")
    )
    rows, version = _responses_with_pseudonyms(campaign, _with_summaries(responses))
    flags = item.assignments.filter(status="flagged").order_by("finished_at")
    return render(
        request,
        "workbench/item_detail.html",
        {
            "campaign": campaign,
            "item": item,
            "votes": selectors.item_votes_by_audience(item=item),
            "rows": rows,
            "release_version": version,
            "flags": flags,
            "newer": campaign.items.filter(previous_version=item).first(),
        },
    )


@login_required
def participant_detail(
    request: HttpRequest, slug: str, audience_slug: str, name: str
) -> HttpResponse:
    """One pseudonymous participant's judgements in one audience of the campaign."""
    campaign = managed_campaign(request, slug)
    target = (
        campaign.targets.select_related("audience").filter(audience__slug=audience_slug).first()
    )
    if target is None:
        raise Http404("No such participant.")
    key, version = pseudonym_key(campaign)
    # The pseudonym is one-way: find the person among the audience's respondents.
    participant_ids = (
        Response.objects.filter(campaign=campaign, audience=target.audience)
        .values_list("participant_id", flat=True)
        .distinct()
    )
    match = next(
        (pid for pid in participant_ids if pseudonym(key, pid, target.audience_id) == name), None
    )
    if match is None:
        raise Http404("No such participant.")
    responses = (
        Response.objects.filter(campaign=campaign, audience=target.audience, participant_id=match)
        .select_related("item", "campaign")
        .order_by("created_at")
    )
    responses = _with_summaries(responses)
    return render(
        request,
        "workbench/participant_detail.html",
        {
            "campaign": campaign,
            "audience": target.audience,
            "name": name,
            "responses": responses,
            "release_version": version,
        },
    )
