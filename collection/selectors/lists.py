"""Lists behind the API, with their filters: tokens, audiences, campaigns, targets, items,
responses."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from collection.models import ApiToken, Audience, Campaign, CampaignAudience, Item, Response
from collection.permissions import audiences_visible_to, campaigns_managed_by, is_researcher


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def audiences_with_counts(queryset: QuerySet[Audience]) -> QuerySet[Audience]:
    return queryset.annotate(member_count=Count("memberships", distinct=True)).order_by("slug")


def audience_list(*, user, filters) -> QuerySet[Audience]:
    """Audiences the user can see, with member counts; ``filters``: ``kind``."""
    queryset = audiences_visible_to(user)
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    return audiences_with_counts(queryset)


def campaign_list(*, user, filters) -> QuerySet[Campaign]:
    """The campaigns a researcher runs, or the open ones targeting an annotator's
    audiences, with owners and targets loaded; ``filters``: ``status``, ``item_kind``."""
    if is_researcher(user):
        queryset = campaigns_managed_by(user)
    else:
        queryset = Campaign.objects.filter(
            status=Campaign.Status.OPEN,
            targets__audience__memberships__participant__user=user,
        ).distinct()
    for name in ("status", "item_kind"):
        if filters.get(name):
            queryset = queryset.filter(**{name: filters[name]})
    targets = CampaignAudience.objects.select_related("audience").order_by("audience__slug")
    return (
        queryset.order_by("slug")
        .select_related("adaptive")
        .prefetch_related("owners", Prefetch("targets", queryset=targets))
    )


def campaign_targets(*, campaign: Campaign) -> list[CampaignAudience]:
    """A campaign's targets with their audiences, by audience slug: the ones
    `campaign_list` prefetched (one query for a page of campaigns), else read now."""
    if "targets" in getattr(campaign, "_prefetched_objects_cache", {}):
        return list(campaign.targets.all())
    return list(campaign.targets.select_related("audience").order_by("audience__slug"))


def item_list(*, campaign: Campaign, filters) -> QuerySet[Item]:
    """A campaign's items by id; ``filters``: ``attention_check`` ("true"/"false"),
    ``external_id``."""
    queryset = campaign.items.order_by("id")
    flag = filters.get("attention_check")
    if flag in ("true", "false"):
        queryset = queryset.filter(is_attention_check=flag == "true")
    if filters.get("external_id"):
        queryset = queryset.filter(external_id=filters["external_id"])
    return queryset.select_related("campaign")


RESPONSE_FILTERS = {
    "campaign": "campaign__slug",
    "audience": "audience__slug",
    "kind": "campaign__item_kind",
    "since": "created_at__gte",
    "until": "created_at__lt",
}


def response_list(*, user, filters: dict) -> QuerySet[Response]:
    """The user's own responses, and (researchers) those of the campaigns they run,
    newest first; ``filters`` as validated by the API (withdrawn ones only with
    ``include_withdrawn``)."""
    own = Q(participant__user=user)
    if is_researcher(user):
        own |= Q(campaign__in=campaigns_managed_by(user))
    queryset = Response.objects.filter(own)
    if not filters.get("include_withdrawn"):
        queryset = queryset.filter(withdrawn_at__isnull=True)
    for name, lookup in RESPONSE_FILTERS.items():
        if name in filters:
            queryset = queryset.filter(**{lookup: filters[name]})
    return queryset.select_related("campaign", "audience").order_by("-created_at", "-id")
