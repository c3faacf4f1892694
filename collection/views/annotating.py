"""The annotate page: serve, submit (and next), skip or flag (and next)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from collection import kinds, selectors, services
from collection.forms import FlagForm, ResponseForm
from collection.models import Assignment, Audience, Campaign, Participant
from collection.views.common import _campaign_for, _participant, _problem


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
            {
                "campaign": campaign,
                "reason": result.reason,
                "code": result.code,
                "counts": counts,
                "last_editable": services.response_last_editable(
                    participant=participant, campaign=campaign
                ),
            },
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
    """Skip the item, or flag it when the annotator gives a reason, and lease the next one.

    One service call, one transaction, as the API's skip: the next item is leased with
    the skip, and the annotate page the redirect lands on shows that lease.
    """
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
        services.assignment_skip_and_next(
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


def _render_annotate(
    request: HttpRequest,
    participant: Participant,
    form: ResponseForm,
    *,
    flag_form: FlagForm | None = None,
    status: int = 200,
    extra: dict | None = None,
) -> HttpResponse:
    assignment, campaign = form.assignment, form.campaign
    extra = extra or {}
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
        "last_editable": None
        if "editing" in extra
        else services.response_last_editable(participant=participant, campaign=campaign),
        **extra,
    }
    if "editing" in extra:
        context["item_number"] = counts.completed
    return render(request, form.kind.template_name, context, status=status)


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
