"""A campaign's progress and a stratum's status: responses and slots per audience and
attribute."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from collection.models import Audience, Campaign, CampaignAudience, Response
from collection.selectors.slot_counts import SlotCounts, slot_counts_by_audience


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
