"""Panel entry pages (consent, screener, finish) and the researcher's study pages.

An entry link is opened by someone the panel sends, with no account here: the GET
shows what the study is and a button, and only the POST creates (or resumes) the
entrant and signs them in, so a link preview or a prefetch writes nothing.
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from collection import services as collection_services
from collection.forms import ConsentForm, ProfileForm
from collection.models import Consent
from collection.permissions import campaigns_managed_by, is_admin, is_researcher
from collection.views.common import _next_url
from panels import selectors, services
from panels.models import PanelEntrant, PanelStudy

SESSION_KEY = "panel_study"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _problem(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request, "collection/problem.html", {"message": message, "status": status}, status=status
    )


def _study(token: str) -> PanelStudy:
    return get_object_or_404(
        PanelStudy.objects.select_related("campaign", "audience", "invitation"), token=token
    )


def _entrant(request: HttpRequest, study: PanelStudy) -> PanelEntrant:
    """The signed-in person's entry into this study; anyone else gets a 404."""
    if not request.user.is_authenticated:
        raise Http404
    entrant = (
        PanelEntrant.objects.select_related("study__campaign", "study__audience", "participant")
        .filter(study=study, participant__user=request.user)
        .first()
    )
    if entrant is None:
        raise Http404
    return entrant


def entry(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    params = request.POST if request.method == "POST" else request.GET
    try:
        external_id, panel_ids, given = services.entry_parameters(study, params)
    except collection_services.ServiceError as error:
        return _problem(request, error.message, 400)
    if request.method != "POST":
        return render(
            request,
            "panels/entry.html",
            {"study": study, "fields": sorted(params.items()), "active": study.active},
        )
    try:
        entrant = services.panel_enter(
            study=study, external_id=external_id, panel_ids=panel_ids, given=given
        )
    except collection_services.ServiceError as error:
        return _problem(request, error.message, error.status)
    login(request, entrant.participant.user, backend=BACKEND)
    request.session[SESSION_KEY] = {
        "token": study.token,
        "campaign": study.campaign.slug,
        "required": study.judgements_required,
    }
    return redirect("panel_step", token=study.token)


@login_required
def step(request: HttpRequest, token: str) -> HttpResponse:
    """Where this person is in the study: consent, screener, work or the end."""
    study = _study(token)
    entrant = _entrant(request, study)
    if entrant.status == PanelEntrant.Status.WORKING:
        return redirect("annotate", study.campaign.slug)
    if entrant.status != PanelEntrant.Status.ENTERED:
        return redirect("panel_exit", token=token)
    consented = Consent.objects.filter(
        participant=entrant.participant,
        campaign=study.campaign,
        version=study.campaign.consent_version,
    ).exists()
    return redirect("panel_screener" if consented else "panel_consent", token=token)


@login_required
def consent(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    entrant = _entrant(request, study)
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            collection_services.consent_give(
                participant=entrant.participant, campaign=study.campaign
            )
        except collection_services.ServiceError as error:
            return _problem(request, error.message, error.status)
        return redirect("panel_step", token=token)
    return render(
        request,
        "panels/consent.html",
        {"study": study, "campaign": study.campaign, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
def screener(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    entrant = _entrant(request, study)
    if entrant.status != PanelEntrant.Status.ENTERED:
        return redirect("panel_step", token=token)
    form = ProfileForm(
        request.POST if request.method == "POST" else None,
        audience=study.audience,
        initial=entrant.panel_given,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.panel_screen(entrant=entrant, attributes=form.attributes())
        except collection_services.ServiceError as error:
            field = (error.field or "").rpartition(".")[2]
            form.add_error(field if field in form.fields else None, error.message)
        else:
            return redirect("panel_step", token=token)
    return render(
        request,
        "panels/screener.html",
        {"study": study, "form": form, "given": entrant.panel_given},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def finish(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    entrant = _entrant(request, study)
    try:
        entrant = services.panel_finish(entrant=entrant)
    except services.NotFinished as error:
        messages.info(request, f"{error.message} Please go on a little longer.")
        return redirect("annotate", study.campaign.slug)
    except collection_services.ServiceError as error:
        return _problem(request, error.message, error.status)
    url = services.exit_url(entrant)
    return redirect(url) if url else redirect("panel_exit", token=token)


@login_required
@require_POST
def give_up(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    services.panel_return(entrant=_entrant(request, study))
    return redirect("panel_exit", token=token)


@login_required
def exit_page(request: HttpRequest, token: str) -> HttpResponse:
    study = _study(token)
    entrant = _entrant(request, study)
    if entrant.status in (PanelEntrant.Status.ENTERED, PanelEntrant.Status.WORKING):
        return redirect("panel_step", token=token)
    return render(
        request,
        "panels/exit.html",
        {
            "study": study,
            "entrant": entrant,
            "code": services.exit_code(entrant),
            "url": services.exit_url(entrant),
        },
    )


# Researchers ---------------------------------------------------------------------


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    if not (is_researcher(request.user) or is_admin(request.user)):
        raise Http404
    studies = selectors.panel_studies_managed_by(request.user)
    campaign = None
    if request.GET.get("campaign"):
        campaign = get_object_or_404(
            campaigns_managed_by(request.user), slug=request.GET["campaign"]
        )
        studies = studies.filter(campaign=campaign)
    return render(request, "panels/study_list.html", {"studies": studies, "campaign": campaign})


@login_required
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(selectors.panel_studies_managed_by(request.user), pk=study_id)
    entry_url = request.build_absolute_uri(reverse("panel_entry", args=[study.token]))
    id_name, _ = services.ID_PARAMETERS[study.panel]
    placeholders = selectors.entry_placeholders(study)
    return render(
        request,
        "panels/study_detail.html",
        {
            "study": study,
            "entry_url": entry_url,
            "link": f"{entry_url}?{placeholders}",
            "id_name": id_name,
            "quotas": selectors.quota_rows(study, timezone.now()),
            "statuses": selectors.status_counts(study),
            "released": study.quotas_released_at is not None
            and study.quotas_released_at <= timezone.now(),
        },
    )


@login_required
@require_POST
def release_quotas(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(selectors.panel_studies_managed_by(request.user), pk=study_id)
    services.panel_study_release_quotas(study=study)
    messages.success(request, "Quotas released: the remaining places go to anyone who qualifies.")
    # Back where the button was (the study, the campaign page or the dashboard).
    return redirect(_next_url(request, reverse("panel_study_detail", args=[study.pk])))


@login_required
def completions_csv(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(selectors.panel_studies_managed_by(request.user), pk=study_id)
    _, others = services.ID_PARAMETERS[study.panel]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="panel-{study.pk}-completions.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "external_id",
            *others,
            "status",
            "started_at",
            "finished_at",
            "judgements",
            "attention_checks_passed",
            "attention_checks_failed",
            "code",
        ]
    )
    for entrant in selectors.completions(study):
        writer.writerow(
            [
                _cell(entrant.external_id),
                *(_cell(entrant.panel_ids.get(name, "")) for name in others),
                entrant.status,
                entrant.entered_at.isoformat(),
                entrant.finished_at.isoformat() if entrant.finished_at else "",
                entrant.judgements,
                entrant.checks_passed,
                entrant.checks_failed,
                services.exit_code(entrant) or "",
            ]
        )
    return response


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula (CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
