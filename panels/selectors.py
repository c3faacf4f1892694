"""Reads for panel studies: the places taken against each quota, and completions."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from collection import quotas
from collection.permissions import campaigns_managed_by
from panels.models import PanelEntrant, PanelStudy


def panel_studies_managed_by(user) -> QuerySet[PanelStudy]:
    """The studies of campaigns the user manages (the one rule in collection.permissions)."""
    return PanelStudy.objects.filter(campaign__in=campaigns_managed_by(user)).select_related(
        "campaign", "audience"
    )


# What the panel's study set-up page takes as the study URL's query string.
PLACEHOLDERS = {
    PanelStudy.Panel.PROLIFIC: (
        "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    ),
    # An MTurk ExternalQuestion adds assignmentId, hitId and workerId itself.
    PanelStudy.Panel.MTURK: "workerId=WORKER_ID&assignmentId=ASSIGNMENT_ID&hitId=HIT_ID",
    PanelStudy.Panel.GENERIC: "pid=PERSON_ID",
}


def entry_placeholders(study: PanelStudy) -> str:
    return PLACEHOLDERS[study.panel]


def status_counts(study: PanelStudy) -> list[tuple[str, int]]:
    counts = dict(
        PanelEntrant.objects.filter(study=study)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return [(label, counts.get(value, 0)) for value, label in PanelEntrant.Status.choices]


def study_quota(study: PanelStudy, now=None) -> quotas.Quota:
    """The study's quotas; once released (`quotas_released_at` passed), the total only."""
    if study.quotas_released_at is not None and (now or timezone.now()) >= study.quotas_released_at:
        return quotas.Quota(places=study.places, values={})
    return quotas.quota_for(
        places=study.places,
        target_marginals=study.audience.target_marginals or {},
        cells=study.quota_cells,
    )


def places_taken(study: PanelStudy, quota: quotas.Quota, now) -> tuple[int, dict]:
    cutoff = now - timedelta(minutes=study.place_minutes)
    holding = PanelEntrant.objects.filter(study=study).filter(
        Q(status=PanelEntrant.Status.COMPLETED)
        | Q(status=PanelEntrant.Status.WORKING, placed_at__gte=cutoff)
    )
    taken: dict[tuple, int] = {}
    total = 0
    for cell in holding.values_list("cell", flat=True):
        total += 1
        for key in quotas.taken_keys(cell, quota):
            taken[key] = taken.get(key, 0) + 1
    return total, taken


def quota_rows(study: PanelStudy, now) -> list[dict]:
    """Each quota (cell, or attribute value) with its places and how many are held,
    for the researcher's live view."""
    # The study's own quotas, even once released: the page shows where places went.
    quota = quotas.quota_for(
        places=study.places,
        target_marginals=study.audience.target_marginals or {},
        cells=study.quota_cells,
    )
    total, taken = places_taken(study, quota, now)
    rows = [{"label": "All places", "places": quota.places, "taken": total}]
    if quota.cells:
        for values, places in quota.cells:
            label = ", ".join(f"{name} {value}" for name, value in sorted(values.items()))
            rows.append(
                {"label": label, "places": places, "taken": taken.get(quotas.cell_key(values), 0)}
            )
    else:
        order = {a["name"]: a["choices"] for a in study.audience.attribute_schema}
        for name, by_value in quota.values.items():
            # In the schema's order (65+ after 45-64), not the targets' key order.
            for value in sorted(by_value, key=lambda v: order.get(name, []).index(v)):
                places = by_value[value]
                rows.append(
                    {
                        "label": f"{name} {value}",
                        "places": places,
                        "taken": taken.get((name, value), 0),
                    }
                )
    for row in rows:
        row["left"] = max(row["places"] - row["taken"], 0)
    return rows


def completions(study: PanelStudy) -> QuerySet[PanelEntrant]:
    """One row per entrant for approval and payment: ids, times, judgements and the
    attention checks' result."""
    return (
        PanelEntrant.objects.filter(study=study)
        .annotate(
            judgements=Count(
                "participant__responses",
                filter=Q(participant__responses__campaign=study.campaign_id),
            ),
            checks_passed=Count(
                "participant__responses",
                filter=Q(
                    participant__responses__campaign=study.campaign_id,
                    participant__responses__attention_passed=True,
                ),
            ),
            checks_failed=Count(
                "participant__responses",
                filter=Q(
                    participant__responses__campaign=study.campaign_id,
                    participant__responses__attention_passed=False,
                ),
            ),
        )
        .order_by("entered_at", "pk")
    )


def panel_quota_boards(campaign, now) -> list[quotas.QuotaBoard]:
    """The campaign's panel studies with targets or crossed cells, as the campaign page
    and the coverage dashboard show them (the study page's own rows)."""
    boards = []
    studies = PanelStudy.objects.filter(campaign=campaign).select_related("audience")
    for study in studies.order_by("pk"):
        if not (study.quota_cells or study.audience.target_marginals):
            continue
        total, *rows = quota_rows(study, now)
        state = quotas.release_state(study.quotas_released_at, now)
        boards.append(
            quotas.QuotaBoard(
                kind="panel",
                title=f"Panel study {study.name}",
                audience=study.audience.name,
                unit="places",
                total=quotas.QuotaRow(
                    label=total["label"], places=total["places"], held=total["taken"]
                ),
                rows=tuple(
                    quotas.QuotaRow(label=row["label"], places=row["places"], held=row["taken"])
                    for row in rows
                ),
                state=state,
                released_at=study.quotas_released_at,
                release_url=""
                if state == quotas.RELEASED
                else reverse("panel_release_quotas", args=[study.pk]),
                link=reverse("panel_study_detail", args=[study.pk]),
            )
        )
    return boards
