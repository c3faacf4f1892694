"""Adaptive overlap's reads: items waiting for a decision and their votes (the pass), the
allocation log per item (the release), and where the extra judgements went (the pages)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from datetime import datetime

from django.db import connection

from collection import payloads
from collection.models import AdaptiveOverlap, AllocationDecision, Campaign

# An item waits for a decision when every targeted audience has all its slots filled
# and none of them has a decision at its current k yet. "Filled", not "taken": a live
# lease is a judgement still to come, and the rule should see it first.
PENDING_ITEMS_SQL = """
WITH per AS (
    SELECT s.item_id, s.audience_id, count(*) AS k, bool_and(s.filled) AS full
    FROM collection_slot s
    WHERE s.campaign_id = %(campaign)s AND s.audience_id = ANY(%(audiences)s)
      AND s.item_id > %(after)s{since}
    GROUP BY s.item_id, s.audience_id
)
SELECT per.item_id, array_agg(per.audience_id ORDER BY per.audience_id),
       array_agg(per.k ORDER BY per.audience_id)
FROM per
LEFT JOIN collection_allocationdecision d
  ON d.item_id = per.item_id AND d.audience_id = per.audience_id AND d.k_before = per.k
GROUP BY per.item_id
HAVING bool_and(per.full) AND bool_and(d.id IS NULL) AND count(*) = %(targets)s
ORDER BY per.item_id
LIMIT %(limit)s
"""

VOTES_SQL = """
SELECT r.item_id, r.audience_id, r.payload
FROM collection_response r
WHERE r.campaign_id = %(campaign)s AND r.item_id = ANY(%(items)s) AND r.withdrawn_at IS NULL
"""

CANDIDATES_SQL = """
SELECT i.id, coalesce(
    (SELECT array_agg(c->>'id' ORDER BY n) FROM jsonb_array_elements(i.payload->'candidates')
        WITH ORDINALITY AS e(c, n)), '{}')
FROM collection_item i WHERE i.id = ANY(%(items)s)
"""


@dataclasses.dataclass(frozen=True)
class PendingItem:
    item_id: int
    k: dict[int, int]  # audience id -> slots now (all filled)


@dataclasses.dataclass(frozen=True)
class ItemVotes:
    candidates: list[str]
    votes: dict[int, list[int]]  # audience id -> outright votes per candidate position
    ties: dict[int, int]


# Only items answered since then: a slot becomes filled only by a response, so an item
# that became full since has one (walks `response_by_time`).
ANSWERED_SINCE_SQL = """
      AND s.item_id IN (SELECT r.item_id FROM collection_response r
                        WHERE r.campaign_id = %(campaign)s AND r.created_at >= %(since)s)"""


def items_pending_decision(
    *,
    campaign: Campaign,
    audience_ids: list[int],
    limit: int,
    since: datetime | None = None,
    after: int = 0,
) -> list[PendingItem]:
    """Items full at their k in every audience and not yet decided at it (of those
    answered since ``since``, when given), in item order from the first after ``after``
    (a pass's batches walk on from the last one's item instead of counting again)."""
    sql = PENDING_ITEMS_SQL.replace("{since}", ANSWERED_SINCE_SQL if since else "")
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "campaign": campaign.pk,
                "audiences": audience_ids,
                "targets": len(audience_ids),
                "limit": limit,
                "since": since,
                "after": after,
            },
        )
        return [
            PendingItem(item_id, dict(zip(audiences, ks, strict=True)))
            for item_id, audiences, ks in cursor.fetchall()
        ]


def item_votes(*, campaign: Campaign, item_ids: list[int]) -> dict[int, ItemVotes]:
    """Each item's live votes per audience, by candidate position (the response's top
    choice, `payloads.top_choice`, as releases count it; ties apart)."""
    with connection.cursor() as cursor:
        cursor.execute(CANDIDATES_SQL, {"items": item_ids})
        result = {
            item_id: ItemVotes(list(candidates), defaultdict(lambda: []), Counter())
            for item_id, candidates in cursor.fetchall()
        }
        cursor.execute(VOTES_SQL, {"campaign": campaign.pk, "items": item_ids})
        for item_id, audience_id, payload in cursor.fetchall():
            votes = result[item_id]
            row = votes.votes[audience_id]
            if not row:
                row.extend([0] * len(votes.candidates))
            # Django has psycopg hand jsonb over as text.
            payload = json.loads(payload) if isinstance(payload, str) else payload
            top = payloads.top_choice(payload if isinstance(payload, dict) else {})
            if top in votes.candidates:
                row[votes.candidates.index(top)] += 1
            else:
                votes.ties[audience_id] += 1
    return result


@dataclasses.dataclass(frozen=True)
class ExtraByAudience:
    audience: str  # slug
    name: str
    items_decided: int
    items_extra: int
    extra_slots: int
    # items by what first gave them more (divergence, entropy), or agree
    by_reason: dict[str, int]
    extra_judgements: int = 0  # responses in slots above the base k


def allocation_summary(*, campaign: Campaign) -> list[ExtraByAudience]:
    """Where the extra judgements went, per audience: items decided, items given more
    than their base k, the slots added, and by which statistic."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.slug, a.name, d.item_id, min(d.k_before), max(d.k_after),
                   (array_agg(d.reason ORDER BY d.k_before)
                       FILTER (WHERE d.k_after > d.k_before))[1],
                   bool_or(d.k_after > d.k_before)
            FROM collection_allocationdecision d
            JOIN collection_audience a ON a.id = d.audience_id
            WHERE d.campaign_id = %s
            GROUP BY a.slug, a.name, d.item_id
            ORDER BY a.slug
            """,
            [campaign.pk],
        )
        rows = cursor.fetchall()
        cursor.execute(
            """
            SELECT a.slug, count(*)
            FROM collection_slot s
            JOIN collection_campaignaudience t
              ON t.campaign_id = s.campaign_id AND t.audience_id = s.audience_id
            JOIN collection_audience a ON a.id = s.audience_id
            WHERE s.campaign_id = %s AND s.filled AND s.index >= t.overlap_k
            GROUP BY a.slug
            """,
            [campaign.pk],
        )
        spent = dict(cursor.fetchall())
    grouped: dict[str, list] = defaultdict(list)
    names = {}
    for slug, name, *rest in rows:
        grouped[slug].append(rest)
        names[slug] = name
    summary = []
    for slug, items in grouped.items():
        extra = [row for row in items if row[4]]
        summary.append(
            ExtraByAudience(
                audience=slug,
                name=names[slug],
                items_decided=len(items),
                items_extra=len(extra),
                extra_slots=sum(row[2] - row[1] for row in extra),
                by_reason=dict(Counter(row[3] or AllocationDecision.Reason.AGREE for row in items)),
                extra_judgements=spent.get(slug, 0),
            )
        )
    return summary


def allocation_log(*, campaign: Campaign) -> list[AllocationDecision]:
    return list(AllocationDecision.objects.filter(campaign=campaign).order_by("id"))


@dataclasses.dataclass(frozen=True)
class Round:
    k_before: int
    k_after: int
    reason: str
    jsd: float | None
    entropy: float | None
    votes: int


@dataclasses.dataclass(frozen=True)
class ItemAllocation:
    has_setting: bool  # the campaign has adaptive overlap on
    base_k: int  # the audience's target k
    rounds: dict[int, list[Round]]  # item id -> its decisions, by k


def item_allocation(
    *, audience_slug: str, item_ids: list[int], snapshot_at: datetime | None
) -> ItemAllocation:
    """A release chunk's allocation log for one audience: the decisions made up to the
    release's snapshot (so that two builds of one job read the same)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.overlap_k, EXISTS (
                SELECT 1 FROM collection_adaptiveoverlap o WHERE o.campaign_id = i.campaign_id)
            FROM collection_item i
            JOIN collection_campaignaudience t ON t.campaign_id = i.campaign_id
            JOIN collection_audience a ON a.id = t.audience_id AND a.slug = %(audience)s
            WHERE i.id = %(item)s
            """,
            {"audience": audience_slug, "item": item_ids[0]},
        )
        found = cursor.fetchone()
        cursor.execute(
            """
            SELECT d.item_id, d.k_before, d.k_after, d.reason, d.jsd, d.entropy, d.votes
            FROM collection_allocationdecision d
            JOIN collection_audience a ON a.id = d.audience_id AND a.slug = %(audience)s
            WHERE d.item_id = ANY(%(items)s)
              AND (%(snapshot)s::timestamptz IS NULL OR d.decided_at <= %(snapshot)s)
            ORDER BY d.item_id, d.k_before
            """,
            {"audience": audience_slug, "items": item_ids, "snapshot": snapshot_at},
        )
        rounds: dict[int, list[Round]] = defaultdict(list)
        for item_id, *values in cursor.fetchall():
            rounds[item_id].append(Round(*values))
    base_k, has_setting = found if found else (0, False)
    return ItemAllocation(has_setting=has_setting, base_k=base_k, rounds=dict(rounds))


def adaptive_setting(*, campaign: Campaign) -> AdaptiveOverlap | None:
    return AdaptiveOverlap.objects.filter(campaign=campaign).first()


def campaign_has_allocations(*, campaign: Campaign) -> bool:
    return AllocationDecision.objects.filter(campaign=campaign).exists()
