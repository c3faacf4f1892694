"""Generating candidates from model endpoints, from a preference campaign's workbench:
which items (those without two candidates, or listed by external id), which endpoints
and how many samples each, keep the most different ("diverse"), and the jobs' progress.

The job itself is `endpoints.services.generation_job_create` (Celery tasks on commit);
this page only parses the form and shows `endpoints.selectors.generation_job_progress`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from collection import kinds
from collection.models import Campaign
from collection.services import ServiceError
from endpoints import services
from endpoints.models import GenerationJob
from endpoints.selectors import endpoints_usable_by, generation_job_progress
from workbench.access import form_error, managed_campaign

MAX_LISTED_IDS = 5000
JOBS_SHOWN = 10


class GenerationForm(forms.Form):
    endpoints = forms.ModelMultipleChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text="Two or more endpoints, or one sampled several times.",
    )
    samples = forms.IntegerField(
        min_value=1,
        max_value=services.MAX_SAMPLES,
        initial=1,
        label="Samples per endpoint",
        help_text="Each sample uses the endpoint's seed plus its number, so samples differ.",
    )
    items = forms.ChoiceField(
        choices=[("missing", "Items with fewer than two candidates"), ("listed", "Items listed")],
        initial="missing",
        widget=forms.RadioSelect,
    )
    external_ids = forms.CharField(
        required=False,
        label="External ids (for items listed)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=200_000,
        help_text="One per line, or separated by commas.",
    )
    diverse = forms.BooleanField(
        required=False,
        label="Keep the most different",
        help_text="Ask for more candidates than you keep, and keep those that differ most "
        "from each other (lexical distance), so choices do not collapse into near-copies.",
    )
    keep = forms.IntegerField(
        required=False, min_value=2, label="Candidates to keep per item", help_text="Default: all."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoints"].queryset = endpoints_usable_by(user).order_by("name")

    def listed_ids(self) -> list[str]:
        text = self.cleaned_data.get("external_ids") or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def _item_ids(campaign: Campaign, form: GenerationForm) -> list[int] | None:
    if form.cleaned_data["items"] == "missing":
        return None
    wanted = form.listed_ids()
    if not wanted:
        raise ServiceError("List at least one external id.", field="external_ids")
    if len(wanted) > MAX_LISTED_IDS:
        raise ServiceError(f"At most {MAX_LISTED_IDS:,} ids at once.", field="external_ids")
    found = dict(
        campaign.items.filter(external_id__in=wanted, superseded_at__isnull=True).values_list(
            "external_id", "id"
        )
    )
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ServiceError(f"No item {missing[0]!r} in this campaign.", field="external_ids")
    return sorted(set(found.values()))


@login_required
def generation(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    if not kinds.get(campaign.item_kind).has_candidates:
        raise Http404("Only preference campaigns have candidates to generate.")
    form = GenerationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = services.generation_job_create(
                campaign=campaign,
                created_by=request.user,
                sources=[
                    {"endpoint": endpoint.pk, "samples": data["samples"]}
                    for endpoint in data["endpoints"]
                ],
                keep=data["keep"],
                diverse=data["diverse"],
                item_ids=_item_ids(campaign, form),
            )
        except ServiceError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                f"Generating candidates for {job.items_total:,} items "
                f"({job.requests_total:,} requests).",
            )
            return redirect("workbench:generation", campaign.slug)
    jobs = GenerationJob.objects.filter(campaign=campaign).order_by("-id")[:JOBS_SHOWN]
    return render(
        request,
        "workbench/generation.html",
        {
            "campaign": campaign,
            "form": form,
            "jobs": [{"job": job, "progress": generation_job_progress(job=job)} for job in jobs],
        },
        status=400 if form.errors else 200,
    )
