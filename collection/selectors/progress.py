"""A campaign's progress: responses and slots per audience."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import connection
from django.utils import timezone

from collection.models import Campaign, Response
from collection.selectors.slot_counts import SlotCounts, slot_counts_by_audience


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
