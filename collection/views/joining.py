"""Home (my campaigns), joining an audience or an invitation, the profile, consent."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from collection import selectors, services
from collection.forms import ConsentForm, ProfileForm
from collection.models import (
    Assignment,
    Audience,
    Campaign,
    Consent,
    Invitation,
    Membership,
    Participant,
    Withdrawal,
)
from collection.permissions import audiences_visible_to
from collection.views.common import _campaign_for, _next_url, _participant, _posted, _problem

FILL_CACHE_SECONDS = 60


@login_required
def home(request: HttpRequest) -> HttpResponse:
    participant = _participant(request)
    memberships = list(participant.memberships.select_related("audience"))
    platform_withdrawal = participant.withdrawals.filter(campaign__isnull=True).first()
    context = {
        "memberships": memberships,
        "platform_withdrawal": platform_withdrawal,
        "campaigns": [] if platform_withdrawal else _campaign_rows(participant, memberships),
        "open_audiences": [] if platform_withdrawal else _open_audiences(participant),
    }
    return render(request, "home.html", context)


@login_required
@require_POST
def audience_join(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    # An audience the user may not see answers like a made-up slug, so the page does
    # not tell which invite-only audiences exist or what they are called.
    audience = get_object_or_404(audiences_visible_to(request.user), slug=slug)
    try:
        membership = services.membership_join(participant=participant, audience=audience)
    except services.ServiceError as error:
        return _problem(request, error.message, error.status)
    messages.success(request, f"You joined {audience.name}.")
    return _after_joining(membership)


@login_required
def invitation_join(request: HttpRequest, token: str) -> HttpResponse:
    participant = _participant(request)
    invitation = Invitation.objects.select_related("audience").filter(token=token).first()
    if invitation is None:
        return _problem(request, "There is no such invitation. Check the link you were sent.", 404)
    audience = invitation.audience
    try:
        services.participant_ensure_not_withdrawn(participant=participant)
    except services.Withdrawn as error:
        return _problem(request, error.message, error.status)
    member = Membership.objects.filter(participant=participant, audience=audience).exists()
    # The profile is asked on the join page itself, so that joining is one step that
    # either saves the membership with its attributes or saves nothing.
    form = None
    if audience.attribute_schema and not member:
        form = ProfileForm(_posted(request), audience=audience)
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            membership = services.invitation_accept(
                token=token,
                participant=participant,
                attributes=form.attributes() if form is not None else None,
            )
        except services.ServiceError as error:
            field = (error.field or "").rpartition(".")[2]
            if form is None or not (error.field or "").startswith("attributes"):
                return _problem(request, error.message, error.status)
            form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, f"You joined {audience.name}.")
            return _after_joining(membership)
    return render(
        request,
        "collection/join.html",
        {"invitation": invitation, "audience": audience, "member": member, "form": form},
        status=400 if form is not None and form.errors else 200,
    )


@login_required
def profile(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    membership = get_object_or_404(
        Membership.objects.select_related("audience"), participant=participant, audience__slug=slug
    )
    form = ProfileForm(
        _posted(request), audience=membership.audience, initial=membership.attributes
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.membership_set_attributes(membership=membership, attributes=form.attributes())
        except services.ServiceError as error:
            field = (error.field or "").rpartition(".")[2]
            form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, f"Your profile for {membership.audience.name} is saved.")
            return redirect(_next_url(request, reverse("home")))
    return render(
        request,
        "collection/profile.html",
        {"form": form, "membership": membership, "next": _next_url(request, "")},
        status=400 if form.errors else 200,
    )


@login_required
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign_for(participant, slug)
    try:
        services.participant_ensure_not_withdrawn(participant=participant, campaign=campaign)
    except services.Withdrawn as error:
        return _problem(request, error.message, error.status)
    given = Consent.objects.filter(
        participant=participant, campaign=campaign, version=campaign.consent_version
    ).first()
    form = ConsentForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        services.consent_give(participant=participant, campaign=campaign)
        return redirect(_next_url(request, reverse("annotate", args=[campaign.slug])))
    return render(
        request,
        "collection/consent.html",
        {"campaign": campaign, "form": form, "given": given, "next": _next_url(request, "")},
        status=400 if form.errors else 200,
    )


def _after_joining(membership: Membership) -> HttpResponse:
    if membership.audience.attribute_schema and not membership.profile_complete:
        profile_url = reverse("profile", args=[membership.audience.slug])
        return redirect(f"{profile_url}?next={reverse('home')}")
    return redirect("home")


def _open_audiences(participant: Participant) -> list[Audience]:
    return list(
        Audience.objects.filter(
            Q(kind=Audience.Kind.MASS) | Q(kind=Audience.Kind.PUBLIC, screened=False)
        )
        .exclude(memberships__participant=participant)
        .order_by("name")
    )


def _campaign_rows(participant: Participant, memberships: list[Membership]) -> list[dict]:
    """Open campaigns aimed at the participant's audiences, with their progress."""
    audience_ids = sorted(membership.audience_id for membership in memberships)
    campaigns = list(
        Campaign.objects.filter(status=Campaign.Status.OPEN, targets__audience_id__in=audience_ids)
        .distinct()
        .order_by("name")
    )
    ids = [campaign.pk for campaign in campaigns]
    completed = dict(
        Assignment.objects.filter(
            participant=participant, campaign_id__in=ids, status=Assignment.Status.COMPLETED
        )
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    consented = set(
        Consent.objects.filter(participant=participant, campaign_id__in=ids).values_list(
            "campaign_id", "version"
        )
    )
    withdrawn = set(
        Withdrawal.objects.filter(participant=participant, campaign_id__in=ids).values_list(
            "campaign_id", flat=True
        )
    )
    rows = []
    for campaign in campaigns:
        done = completed.get(campaign.pk, 0)
        cap = campaign.per_participant_cap
        rows.append(
            {
                "campaign": campaign,
                "completed": done,
                "cap": cap,
                "cap_percent": round(100 * done / cap) if cap else None,
                "cap_reached": bool(cap and done >= cap),
                "fill_percent": _fill_percent(campaign, audience_ids),
                "consented": (campaign.pk, campaign.consent_version) in consented,
                "withdrawn": campaign.pk in withdrawn,
            }
        )
    return rows


def _fill_percent(campaign: Campaign, audience_ids: list[int]) -> int | None:
    """How full the campaign is for these audiences; cached, since it counts every slot."""
    key = f"web:fill:{campaign.pk}:{','.join(map(str, audience_ids))}"
    fill = cache.get(key)
    if fill is None:
        counts = selectors.slot_counts_by_audience(
            campaign=campaign, now=timezone.now(), audience_ids=audience_ids
        ).values()
        total, filled = sum(c.slots for c in counts), sum(c.filled for c in counts)
        fill = round(100 * filled / total) if total else -1
        cache.set(key, fill, FILL_CACHE_SECONDS)
    return None if fill < 0 else fill
