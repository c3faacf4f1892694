"""Reads behind the researcher workbench, and what a release may publish (not excluded,
not rejected)."""

from __future__ import annotations

import dataclasses

from django.db.models import Count, Q

from collection.models import Assignment, Campaign, Item, Response

# What a release may publish, as SQL on collection_item ``i`` and collection_response
# ``r``: the release's item and judgement queries add these to their WHERE clauses.
RELEASABLE_ITEM_SQL = "i.excluded_at IS NULL"
RELEASABLE_RESPONSE_SQL = "r.review <> 'rejected'"


def releasable_items(*, campaign: Campaign):
    return campaign.items.filter(excluded_at__isnull=True)


def releasable_responses(*, campaign: Campaign):
    return campaign.responses.filter(withdrawn_at__isnull=True).exclude(
        review=Response.Review.REJECTED
    )


@dataclasses.dataclass(frozen=True)
class ItemFilters:
    search: str = ""
    audience: int | None = None
    status: str = ""  # "live", "excluded", "superseded"
    flagged: bool = False
    attention_check: bool | None = None


def items_for_browser(*, campaign: Campaign, filters: ItemFilters):
    items = campaign.items.all()
    if filters.search:
        items = items.filter(Q(prompt__icontains=filters.search) | Q(external_id=filters.search))
    if filters.audience is not None:
        items = items.filter(responses__audience_id=filters.audience).distinct()
    if filters.status == "live":
        items = items.filter(superseded_at__isnull=True, excluded_at__isnull=True)
    elif filters.status == "excluded":
        items = items.filter(excluded_at__isnull=False)
    elif filters.status == "superseded":
        items = items.filter(superseded_at__isnull=False)
    if filters.flagged:
        items = items.filter(
            assignments__status=Assignment.Status.FLAGGED,
            assignments__flag_resolved_at__isnull=True,
        ).distinct()
    if filters.attention_check is not None:
        items = items.filter(is_attention_check=filters.attention_check)
    return items.annotate(
        live_responses=Count("responses", filter=Q(responses__withdrawn_at__isnull=True))
    ).order_by("id")


def flags_open(*, campaign: Campaign) -> list[dict]:
    """Flagged items not yet resolved, each with every reason given, oldest first."""
    flags = (
        Assignment.objects.filter(
            campaign=campaign, status=Assignment.Status.FLAGGED, flag_resolved_at__isnull=True
        )
        .select_related("item")
        .order_by("finished_at", "id")
    )
    grouped: dict[int, dict] = {}
    for flag in flags:
        entry = grouped.setdefault(flag.item_id, {"item": flag.item, "reasons": []})
        entry["reasons"].append(flag.flag_reason)
    return list(grouped.values())


def item_votes_by_audience(*, item: Item) -> list[dict]:
    """Per target audience, how the item's live responses answered."""
    rows = []
    responses = item.responses.filter(withdrawn_at__isnull=True)
    for target in item.campaign.targets.select_related("audience").order_by("audience__slug"):
        answers = list(responses.filter(audience=target.audience).values_list("payload", flat=True))
        choices: dict[str, int] = {}
        for payload in answers:
            choice = payload.get("choice")
            if choice is None and payload.get("ranking"):
                choice = f"{payload['ranking'][0]} first"
            if choice:
                choices[str(choice)] = choices.get(str(choice), 0) + 1
        scores = [payload["scores"] for payload in answers if payload.get("scores")]
        for name in dict.fromkeys(name for given in scores for name in given):
            values = [given[name] for given in scores if name in given]
            choices[f"{name} mean"] = round(sum(values) / len(values), 2)
        rows.append(
            {
                "audience": target.audience,
                "k": target.overlap_k,
                "count": len(answers),
                "choices": sorted(choices.items()),
            }
        )
    return rows


def demonstrations_to_review(*, campaign: Campaign, review: str = ""):
    return (
        campaign.responses.filter(withdrawn_at__isnull=True, review=review)
        .select_related("item", "audience")
        .order_by("created_at", "id")
    )
