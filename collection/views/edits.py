"""Changing one's last answer: the item again, its form, and the answer as given
(while the item is still theirs; the rule is `collection.services.edits`)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from collection import services
from collection.forms import ResponseForm
from collection.views.annotating import _render_annotate
from collection.views.common import _campaign_for, _participant, _problem
from collection.views.submissions import _answer_summary


@login_required
def edit_last(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign_for(participant, slug)
    last = services.response_last_editable(participant=participant, campaign=campaign)
    if last is None:
        return _problem(
            request,
            "There is no answer you can still change here: only your last one, while the "
            "item is kept for you.",
            404,
            campaign,
        )
    assignment = last.assignment
    assignment.campaign = campaign
    editing = {
        "editing": last,
        "previous": _answer_summary(last),
        "form_action": reverse("edit_last", args=[campaign.slug]),
    }
    if request.method != "POST":
        # The answer as given, where a field holds it as text or a number.
        given = {k: v for k, v in last.payload.items() if isinstance(v, str | int)}
        form = ResponseForm(
            assignment=assignment,
            initial={"assignment": assignment.pk, "idempotency_key": uuid.uuid4(), **given},
        )
        return _render_annotate(request, participant, form, extra=editing)
    form = ResponseForm(request.POST, assignment=assignment)
    if not form.is_valid():
        return _render_annotate(request, participant, form, status=400, extra=editing)
    try:
        services.response_edit(
            participant=participant, response_id=last.pk, payload=form.response_payload()
        )
    except (services.NotFound, services.Conflict) as error:
        return _problem(request, error.message, error.status, campaign)
    except services.ServiceError as error:
        form.add_service_error(error.field, error.message)
        return _render_annotate(request, participant, form, status=400, extra=editing)
    messages.success(request, "Your last answer is changed.")
    return redirect("annotate", campaign.slug)
