"""The annotator web forms: sign-up, joining, consent, profile, annotation, withdrawal.

Views stay thin: each parses its form, calls one service and picks a page or a
redirect. Every page but sign-up and login needs a login, and every object is
looked up through the signed-in participant, so nobody reaches another
person's assignments.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from collection import kinds, selectors, services
from collection.forms import (
    ConsentForm,
    FlagForm,
    ProfileForm,
    ResponseForm,
    SignupForm,
)
from collection.models import (
    ApiToken,
    Assignment,
    Audience,
    Campaign,
    Consent,
    Invitation,
    Membership,
    Participant,
    Response,
    Withdrawal,
)
from collection.permissions import audiences_visible_to, campaigns_open_to
from collection.throttles import SignupThrottle, TokenCreateThrottle

FILL_CACHE_SECONDS = 60
SUBMISSIONS_PER_PAGE = 50


# Accounts ------------------------------------------------------------------------


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST" and not SignupThrottle().allow_request(request, None):
        return _problem(request, "Too many sign-ups from your network; try again later.", 429)
    form = SignupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            services.participant_get_or_create(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}.")
        return redirect(_next_url(request, reverse("home")))
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": _next_url(request, "")},
        status=400 if form.errors else 200,
    )


# Home, audiences, consent, profile -----------------------------------------------


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


# Annotation ----------------------------------------------------------------------


@login_required
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign_for(participant, slug)
    own_page = kinds.get(campaign.item_kind).annotate_url_name
    if own_page:  # conversations run on a page of their own
        return redirect(own_page, campaign.slug)
    here = reverse("annotate", args=[campaign.slug])
    try:
        result = services.assignment_next(participant=participant, campaign=campaign)
    except services.ConsentRequired:
        return redirect(f"{reverse('consent', args=[campaign.slug])}?next={here}")
    except services.ProfileRequired:
        audience = _incomplete_audience(participant, campaign)
        return redirect(f"{reverse('profile', args=[audience.slug])}?next={here}")
    except services.NotEligible as error:
        return _problem(request, error.message, error.status)
    if isinstance(result, services.NoItem):
        counts = selectors.participant_campaign_counts(participant=participant, campaign=campaign)
        return render(
            request,
            "collection/done.html",
            {"campaign": campaign, "reason": result.reason, "code": result.code, "counts": counts},
        )
    result.campaign = campaign
    return _render_annotate(request, participant, ResponseForm(assignment=result))


@login_required
@require_POST
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign_for(participant, slug)
    assignment = _own_assignment(participant, campaign, request.POST.get("assignment"))
    if assignment is None:
        return _problem(request, "This item is not assigned to you.", 404, campaign)
    form = ResponseForm(request.POST, assignment=assignment)
    if not form.is_valid():
        return _render_annotate(request, participant, form, status=400)
    try:
        services.response_submit(
            participant=participant,
            assignment_id=assignment.pk,
            payload=form.response_payload(),
            time_on_task_ms=form.time_on_task(timezone.now()),
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except services.LeaseExpired as error:
        messages.warning(request, error.message)
    except (services.NotFound, services.Conflict) as error:
        return _problem(request, error.message, error.status, campaign)
    except services.ServiceError as error:
        form.add_service_error(error.field, error.message)
        return _render_annotate(request, participant, form, status=400)
    else:
        messages.success(request, "Saved.")
    return redirect("annotate", campaign.slug)


@login_required
@require_POST
def skip(request: HttpRequest, slug: str) -> HttpResponse:
    """Skip the item, or flag it when the annotator gives a reason."""
    participant = _participant(request)
    campaign = _campaign_for(participant, slug)
    assignment = _own_assignment(participant, campaign, request.POST.get("assignment"))
    if assignment is None:
        return _problem(request, "This item is not assigned to you.", 404, campaign)
    flag_form = FlagForm(request.POST)
    flagging = request.POST.get("action") == "flag"
    reason = flag_form.cleaned_data["flag_reason"] if flag_form.is_valid() else ""
    if flagging and flag_form.is_valid() and not reason.strip():
        flag_form.add_error("flag_reason", "Say what is wrong, or use Skip instead.")
    if flag_form.errors:
        form = ResponseForm(assignment=assignment)
        return _render_annotate(request, participant, form, flag_form=flag_form, status=400)
    try:
        services.assignment_skip(
            participant=participant,
            assignment_id=assignment.pk,
            flag_reason=reason if flagging else "",
        )
    except services.Conflict as error:
        # Most often a double click: the item is gone already, so just move on.
        messages.info(request, error.message)
    except services.ServiceError as error:
        return _problem(request, error.message, error.status, campaign)
    else:
        messages.success(request, "Flagged, thank you." if flagging else "Skipped.")
    return redirect("annotate", campaign.slug)


# Submissions and withdrawal --------------------------------------------------------


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


# Helpers -------------------------------------------------------------------------


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


def _after_joining(membership: Membership) -> HttpResponse:
    if membership.audience.attribute_schema and not membership.profile_complete:
        profile_url = reverse("profile", args=[membership.audience.slug])
        return redirect(f"{profile_url}?next={reverse('home')}")
    return redirect("home")


def _render_annotate(
    request: HttpRequest,
    participant: Participant,
    form: ResponseForm,
    *,
    flag_form: FlagForm | None = None,
    status: int = 200,
) -> HttpResponse:
    assignment, campaign = form.assignment, form.campaign
    counts = selectors.participant_campaign_counts(participant=participant, campaign=campaign)
    cap = campaign.per_participant_cap
    context = {
        "campaign": campaign,
        "assignment": assignment,
        "item": assignment.item,
        "form": form,
        "flag_form": flag_form or FlagForm(),
        "completed": counts.completed,
        "item_number": counts.completed + 1,
        "cap": cap,
        "cap_percent": round(100 * counts.completed / cap) if cap else None,
        "rating_scale": campaign.rating_scale,
        "kind": campaign.item_kind,
        "format": campaign.preference_format,
        "answer_fields": [form[name] for name in form.answer_fields],
        **form.kind.annotate_context(form),
    }
    return render(request, form.kind.template_name, context, status=status)


# Reads this web UI needs. They are small and specific to these pages; move them to
# selectors.py if another caller appears.


def _campaign_for(participant: Participant, slug: str) -> Campaign:
    """A campaign the participant may use (`permissions.campaigns_open_to`, as the API).

    Anything else is a 404, so the pages do not reveal which campaigns exist.
    """
    campaign = campaigns_open_to(participant.user).filter(slug=slug).first()
    if campaign is None:
        raise Http404("This campaign is not open to your audiences.")
    return campaign


def _own_assignment(
    participant: Participant, campaign: Campaign, assignment_id: str | None
) -> Assignment | None:
    try:
        assignment_id = int(assignment_id or "")
    except ValueError:
        return None
    assignment = (
        Assignment.objects.select_related("item")
        .filter(pk=assignment_id, participant=participant, campaign=campaign)
        .first()
    )
    if assignment is not None:
        assignment.campaign = campaign
    return assignment


def _incomplete_audience(participant: Participant, campaign: Campaign) -> Audience:
    memberships = selectors.memberships_for_campaign(participant=participant, campaign=campaign)
    for membership in memberships:
        if not membership.profile_complete:
            return membership.audience
    return memberships[0].audience


def _took_part(participant: Participant, campaign: Campaign) -> bool:
    return (
        Consent.objects.filter(participant=participant, campaign=campaign).exists()
        or Assignment.objects.filter(participant=participant, campaign=campaign).exists()
    )


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


def _answer_summary(response: Response) -> list[tuple[str, str]]:
    """What a response said, as (label, text) pairs a person can read back."""
    payload = response.payload
    summary = kinds.get(response.campaign.item_kind).summary(response)
    if "rationale" in payload:
        summary.append(("Why", kinds.excerpt(payload["rationale"], 200)))
    if "confidence" in payload:
        summary.append(("Confidence", f"{payload['confidence']} of 5"))
    return summary


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Create and revoke the caller's own API tokens; a new key is shown once."""
    new_key = None
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                token = services.api_token_revoke(
                    user=request.user, token_id=int(request.POST["revoke"])
                )
                messages.success(request, f"Revoked “{token.name}”.")
                return redirect("api_tokens")
            if not TokenCreateThrottle().allow_request(request, None):
                messages.error(request, "Too many new tokens; try again later.")
                return redirect("api_tokens")
            _, new_key = services.api_token_create(
                user=request.user, name=request.POST.get("name", "")
            )
        except (services.ServiceError, ValueError) as error:
            messages.error(request, getattr(error, "message", "No such token."))
            return redirect("api_tokens")
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "collection/tokens.html", {"tokens": tokens, "new_key": new_key})
