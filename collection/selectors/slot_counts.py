"""How a slot is counted (taken, free, live lease), in one place, and the counts by
audience and by campaign that every page and the engine read."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import connection

from collection.models import Campaign

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
