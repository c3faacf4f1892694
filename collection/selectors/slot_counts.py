"""How a slot is counted (taken, free, live lease), in one place, and the counts by
audience and by campaign that every page and the engine read."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import connection

from collection.models import Audience, Campaign

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


# The slots each group of a public audience holds (filled or live-leased), by the
# attribute values of the member holding them: what the engine's quota check counts.
# Taken as SLOT_LIVE_LEASE_SQL says (filled, or not filled with a live lease, which is
# "filled or live lease"), through the holder's assignment to the member's attributes.
SLOTS_HELD_BY_GROUP_SQL = """
SELECT kv.key, kv.value, count(*), count(*) FILTER (WHERE s.filled)
FROM collection_slot s
JOIN collection_assignment a ON a.id = s.holder_id
JOIN collection_membership m
  ON m.participant_id = a.participant_id AND m.audience_id = s.audience_id
CROSS JOIN LATERAL jsonb_each_text(m.attributes) AS kv
WHERE s.campaign_id = %(campaign)s AND s.audience_id = %(audience)s
  AND (s.filled OR s.lease_expires_at >= %(now)s)
  AND kv.key = ANY(%(names)s)
GROUP BY kv.key, kv.value
"""


@dataclasses.dataclass(frozen=True)
class GroupHolds:
    slots: int  # all the audience's slots in the campaign
    held: int  # filled or live-leased
    by_group: dict[tuple[str, str], int]  # (attribute, value) -> slots held
    # (attribute, value) -> slots filled (the rest of by_group is live leases)
    filled_by_group: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    filled: int = 0


def slots_held_by_group(*, campaign: Campaign, audience: Audience, now: datetime) -> GroupHolds:
    counts = slot_counts_by_audience(campaign=campaign, now=now, audience_ids=[audience.pk]).get(
        audience.pk, SlotCounts()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            SLOTS_HELD_BY_GROUP_SQL,
            {
                "campaign": campaign.pk,
                "audience": audience.pk,
                "now": now,
                "names": list(audience.target_marginals),
            },
        )
        rows = cursor.fetchall()
    return GroupHolds(
        slots=counts.slots,
        held=counts.filled + counts.live_leases,
        by_group={(name, value): n for name, value, n, _ in rows},
        filled_by_group={(name, value): filled for name, value, _, filled in rows},
        filled=counts.filled,
    )
