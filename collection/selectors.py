"""Reads of collected data, including the queries behind the assignment engine."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from collection.models import (
    ApiToken,
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Item,
    Membership,
    Participant,
    Response,
    Slot,
    Withdrawal,
)
from collection.permissions import audiences_visible_to, campaigns_managed_by, is_researcher


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@functools.cache
def _loader(model) -> tuple[list[str], list[tuple[int, list]]]:
    """A model's field names, and which of its columns need converting (JSON decoding), by
    what: worked out once per model, not on every request."""
    fields = model._meta.concrete_fields
    converters = [(i, field.get_db_converters(connection)) for i, field in enumerate(fields)]
    return [field.attname for field in fields], [(i, c) for i, c in converters if c]


def _instance(model, values):
    """A model instance from its concrete fields' column values, as the ORM would build it
    (JSON decoded by the fields' own converters)."""
    names, converters = _loader(model)
    values = list(values)
    for i, functions in converters:
        for converter in functions:
            values[i] = converter(values[i], None, connection)
    return model.from_db(connection.alias, names, values)


# Runs before every item served and every submission's next item, so it is written out
# in SQL: building it with the ORM (joins, two EXISTS annotations) cost 2.6 ms of Python
# per call against 0.6 ms for sending this text (measured at 1,000 items).
MEMBERSHIPS_SQL = f"""
SELECT {_columns(Membership, "m")}, {_columns(Audience, "a")},
       EXISTS (SELECT 1 FROM collection_consent k
               WHERE k.participant_id = m.participant_id AND k.campaign_id = %(campaign)s
                 AND k.version = %(version)s) AS consented,
       EXISTS (SELECT 1 FROM collection_withdrawal w
               WHERE w.participant_id = m.participant_id
                 AND (w.campaign_id IS NULL OR w.campaign_id = %(campaign)s)) AS withdrawn
FROM collection_membership m
JOIN collection_audience a ON a.id = m.audience_id
WHERE m.participant_id = %(participant)s
  AND EXISTS (SELECT 1 FROM collection_campaignaudience t
              WHERE t.audience_id = m.audience_id AND t.campaign_id = %(campaign)s)
ORDER BY m.audience_id
"""


def memberships_for_campaign(*, participant: Participant, campaign: Campaign) -> list[Membership]:
    """The participant's memberships in audiences this campaign targets (with their
    audience loaded), each marked with whether the participant has consented to the
    campaign's current consent text (``consented``) or withdrawn from it (``withdrawn``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            MEMBERSHIPS_SQL,
            {
                "participant": participant.pk,
                "campaign": campaign.pk,
                "version": campaign.consent_version,
            },
        )
        rows = cursor.fetchall()
    width = len(Membership._meta.concrete_fields)
    memberships = []
    for row in rows:
        membership = _instance(Membership, row[:width])
        audience = _instance(Audience, row[width:-2])
        Membership.audience.field.set_cached_value(membership, audience)
        membership.consented, membership.withdrawn = row[-2], row[-1]
        memberships.append(membership)
    return memberships


ASSIGNMENT_FOR_UPDATE_SQL = f"""
SELECT {_columns(Assignment, "a")}, {_columns(Item, "i")}, {_columns(Campaign, "c")}
FROM collection_assignment a
JOIN collection_item i ON i.id = a.item_id
JOIN collection_campaign c ON c.id = a.campaign_id
WHERE a.id = %(assignment)s AND a.participant_id = %(participant)s
FOR UPDATE OF a
"""


def assignment_for_update(*, participant: Participant, assignment_id: int) -> Assignment | None:
    """The participant's assignment, row-locked, with its item and campaign loaded (in SQL
    for the reason MEMBERSHIPS_SQL gives: this starts every submission); call inside a
    transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            ASSIGNMENT_FOR_UPDATE_SQL, {"assignment": assignment_id, "participant": participant.pk}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    first = len(Assignment._meta.concrete_fields)
    second = first + len(Item._meta.concrete_fields)
    assignment = _instance(Assignment, row[:first])
    Assignment.item.field.set_cached_value(assignment, _instance(Item, row[first:second]))
    Assignment.campaign.field.set_cached_value(assignment, _instance(Campaign, row[second:]))
    return assignment


@dataclasses.dataclass(frozen=True)
class ParticipantCounts:
    assigned: int
    completed: int
    attention_checks: int
    current_lease: int | None  # the newest unfinished lease, live or expired


# Written out in SQL for the same reason as MEMBERSHIPS_SQL (1.3 ms of ORM per call).
COUNTS_SQL = f"""
SELECT count(*),
       count(*) FILTER (WHERE a.status = '{Assignment.Status.COMPLETED}'),
       count(*) FILTER (WHERE i.is_attention_check),
       max(a.id) FILTER (WHERE a.status = '{Assignment.Status.LEASED}')
FROM collection_assignment a
JOIN collection_item i ON i.id = a.item_id
WHERE a.participant_id = %(participant)s AND a.campaign_id = %(campaign)s
"""


def participant_campaign_counts(
    *, participant: Participant, campaign: Campaign
) -> ParticipantCounts:
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL, {"participant": participant.pk, "campaign": campaign.pk})
        assigned, completed, attention_checks, current_lease = cursor.fetchone()
    return ParticipantCounts(assigned, completed, attention_checks, current_lease)


def attention_check_next(*, participant: Participant, campaign: Campaign) -> int | None:
    return (
        campaign.items.filter(
            is_attention_check=True, superseded_at__isnull=True, excluded_at__isnull=True
        )
        .exclude(assignments__participant=participant)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )


# How a slot is counted, in one place. A slot is taken while it holds a response
# (``filled``) or a lease that has not run out: completed + live leases, which the
# engine keeps at most k per (item, audience). It is free otherwise. The engine's
# search, the sync that trims slots above k, and every count of slots (progress, the
# dashboard, the annotator's home page, stratum scarcity) read these.
SLOT_LIVE_LEASE_SQL = "NOT filled AND lease_expires_at >= %(now)s"
SLOT_FREE_SQL = "NOT s.filled AND (s.lease_expires_at IS NULL OR s.lease_expires_at < %(now)s)"
SLOT_COUNTS_SQL = (
    f"count(*), count(*) FILTER (WHERE filled), count(*) FILTER (WHERE {SLOT_LIVE_LEASE_SQL})"
)
SLOT_COUNTS_BY_AUDIENCE_SQL = f"""
SELECT audience_id, {SLOT_COUNTS_SQL}
FROM collection_slot WHERE campaign_id = %(campaign)s{{audiences}}
GROUP BY audience_id
"""
SLOT_COUNTS_BY_CAMPAIGN_SQL = f"""
SELECT campaign_id, {SLOT_COUNTS_SQL}
FROM collection_slot WHERE campaign_id = ANY(%(campaigns)s)
GROUP BY campaign_id
"""


@dataclasses.dataclass(frozen=True)
class SlotCounts:
    slots: int = 0
    filled: int = 0
    live_leases: int = 0

    @property
    def fill(self) -> float:
        """Filled slots over all slots."""
        return self.filled / self.slots if self.slots else 0.0

    @property
    def fill_percent(self) -> float:
        return self.fill * 100


def slot_counts_by_audience(
    *, campaign: Campaign, now: datetime, audience_ids: list[int] | None = None
) -> dict[int, SlotCounts]:
    """Per audience of the campaign (or of ``audience_ids``): slots, filled, live leases."""
    audiences = "" if audience_ids is None else " AND audience_id = ANY(%(audiences)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            SLOT_COUNTS_BY_AUDIENCE_SQL.format(audiences=audiences),
            {"campaign": campaign.pk, "now": now, "audiences": audience_ids},
        )
        return {row[0]: SlotCounts(*row[1:]) for row in cursor.fetchall()}


def slot_counts_by_campaign(*, campaign_ids: list[int], now: datetime) -> dict[int, SlotCounts]:
    """Per campaign: slots, filled, live leases."""
    with connection.cursor() as cursor:
        cursor.execute(SLOT_COUNTS_BY_CAMPAIGN_SQL, {"campaigns": campaign_ids, "now": now})
        return {row[0]: SlotCounts(*row[1:]) for row in cursor.fetchall()}


# The plan (EXPLAIN on a campaign of 1,000,000 items, k=3): an Index Scan on the
# partial index slot_open_in_order, with the campaign and audience as its leading
# keys and (index, item_id) as its order, so no Sort; LockRows with SKIP LOCKED
# on top and a Nested Loop Anti Join probing assignment_item_once for "not seen
# before". The scan stops at the first row it can lock, so it reads only the
# slots leased by others (at most one per concurrent annotator) and the items
# this participant has already seen at the current depth (at most their cap).
NEXT_FREE_SLOT_SQL = f"""
SELECT s.id, s.campaign_id, s.audience_id, s.item_id, s.index
FROM collection_slot s
WHERE s.campaign_id = %(campaign)s
  AND s.audience_id = %(audience)s
  AND {SLOT_FREE_SQL}
  AND NOT EXISTS (
      SELECT 1 FROM collection_assignment a
      WHERE a.item_id = s.item_id AND a.participant_id = %(participant)s)
ORDER BY s.index, s.item_id
LIMIT 1
FOR UPDATE OF s SKIP LOCKED
"""


def slot_next_free(
    *, participant: Participant, campaign: Campaign, audience_id: int, now: datetime
) -> Slot | None:
    """Lock and return the first free slot, breadth-first; call inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            NEXT_FREE_SLOT_SQL,
            {
                "campaign": campaign.pk,
                "audience": audience_id,
                "now": now,
                "participant": participant.pk,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Slot(id=row[0], campaign_id=row[1], audience_id=row[2], item_id=row[3], index=row[4])


def stratum_status(*, campaign: Campaign, audience: Audience) -> dict:
    """Whether slots are scarce, and which attribute values are below their target share.

    Shares are over the audience's live (not withdrawn) responses in the campaign.
    """
    target = CampaignAudience.objects.get(campaign=campaign, audience=audience)
    slots = slot_counts_by_audience(
        campaign=campaign, now=timezone.now(), audience_ids=[audience.pk]
    ).get(audience.pk, SlotCounts())
    # Scarcity counts unfilled slots, not free ones: a live lease is not yet a response.
    unfilled = slots.slots - slots.filled
    scarce = slots.slots > 0 and unfilled <= target.stratum_reserve_share * slots.slots
    below: dict[str, list[str]] = {}
    for name, shares in audience.target_marginals.items():
        observed = response_counts_by_attribute(campaign=campaign, audience=audience, name=name)
        total = sum(observed.values())
        below[name] = [
            value
            for value, share in shares.items()
            if total == 0 or observed.get(value, 0) / total < share
        ]
    return {"scarce": scarce, "below_target": below}


def response_counts_by_attribute(
    *, campaign: Campaign, audience: Audience, name: str
) -> dict[str, int]:
    rows = (
        Response.objects.filter(campaign=campaign, audience=audience, withdrawn_at__isnull=True)
        .filter(
            participant__memberships__audience=audience,
        )
        .values(f"participant__memberships__attributes__{name}")
        .annotate(n=Count("id"))
    )
    return {row[f"participant__memberships__attributes__{name}"]: row["n"] for row in rows}


def campaign_progress(*, campaign: Campaign, now: datetime | None = None) -> dict:
    """Per target audience: slots, responses, live leases, items at k, participants.

    Counted in SQL over the slot table (one row per place), so it stays one
    aggregate query per audience however many items there are.
    """
    now = now or timezone.now()
    items = campaign.items.filter(is_attention_check=False).count()
    rows = []
    counts = slot_counts_by_audience(campaign=campaign, now=now)
    for target in campaign.targets.select_related("audience").order_by("audience__slug"):
        slots, filled, leased = dataclasses.astuple(counts.get(target.audience_id, SlotCounts()))
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT count(*) FROM (
                    SELECT item_id FROM collection_slot
                    WHERE campaign_id = %(campaign)s AND audience_id = %(audience)s
                    GROUP BY item_id HAVING bool_and(filled)) AS full_items
                """,
                {"campaign": campaign.pk, "audience": target.audience_id},
            )
            at_k = cursor.fetchone()[0]
        live = Response.objects.filter(
            campaign=campaign, audience_id=target.audience_id, withdrawn_at__isnull=True
        )
        rows.append(
            {
                "audience": target.audience.slug,
                "overlap_k": target.overlap_k,
                "items": items,
                "slots": slots,
                "responses": live.filter(item__is_attention_check=False).count(),
                "live_leases": leased,
                "items_at_k": at_k,
                "participants": live.values("participant_id").distinct().count(),
                "fill": filled / slots if slots else 0.0,
            }
        )
    return {"items": items, "audiences": rows}


def withdrawal_covering(
    *, participant: Participant, campaign: Campaign | None = None
) -> Withdrawal | None:
    """The participant's withdrawal from the platform, or else from ``campaign``: the one
    that already covers a withdrawal from that scope."""
    scope = Q(campaign__isnull=True)
    if campaign is not None:
        scope |= Q(campaign=campaign)
    return (
        Withdrawal.objects.filter(scope, participant=participant)
        .order_by(F("campaign_id").asc(nulls_first=True))
        .first()
    )


# Lists behind the API ------------------------------------------------------------------


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
    return queryset.order_by("slug").prefetch_related(
        "owners", Prefetch("targets", queryset=targets)
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


# Researcher workbench (issue #14) ------------------------------------------------------

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
