"""Slot creation: every ordinary item gets k slots per target audience, in SQL.

Below `services` and `imports`, which both create slots, so neither needs the other
for it. An import locks its campaign's slot creation (`campaign_lock_slots`) before it
reads where its new items start: two imports into one campaign at once then run one
after the other instead of both giving slots to the first one's items (which broke
``slot_unique``).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from collection import selectors
from collection.models import Campaign


def campaign_lock_slots(*, campaign: Campaign) -> None:
    """Hold the campaign's slot creation until the transaction ends.

    FOR NO KEY UPDATE, not FOR UPDATE: rows that merely reference the campaign
    (responses, assignments, the import's own items) take FOR KEY SHARE, which this
    does not block, so annotating goes on during an import.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM collection_campaign WHERE id = %s FOR NO KEY UPDATE", [campaign.pk]
        )


# A preference item imported "prompts only" waits for its candidates: without slots it
# cannot be served, and `item_candidates_append` gives it slots once it has two.
SERVABLE_ITEM_SQL = "coalesce(jsonb_array_length(i.payload->'candidates'), 2) >= 2"


def campaign_sync_slots(*, campaign: Campaign, new_items_after: int | None = None) -> None:
    """Give every ordinary item exactly k slots per target audience.

    Raising k adds slots; lowering it removes the empty, unleased ones above the
    new k (slots already holding a response or a live lease are kept). Done in
    SQL so that it stays quick for a million items. An import passes
    ``new_items_after`` (the largest item id before it) to touch only its items.
    """
    now = timezone.now()
    # An import's items are invisible to other transactions until it commits, so
    # they cannot have slots yet: a plain INSERT (in index order) is enough, and
    # much quicker than checking each row for a conflict.
    conflict = (
        ""
        if new_items_after is not None
        else ("ON CONFLICT (item_id, audience_id, index) DO NOTHING")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
            SELECT t.campaign_id, t.audience_id, i.id, s.n, false
            FROM collection_campaignaudience t
            JOIN collection_item i ON i.campaign_id = t.campaign_id AND NOT i.is_attention_check
                AND i.superseded_at IS NULL AND i.excluded_at IS NULL
            CROSS JOIN LATERAL generate_series(0, t.overlap_k - 1) AS s(n)
            WHERE t.campaign_id = %s AND i.id > %s AND {SERVABLE_ITEM_SQL}
            ORDER BY i.id, t.audience_id, s.n
            {conflict}
            """,
            [campaign.pk, new_items_after or 0],
        )
        if new_items_after is not None:
            return
        cursor.execute(
            f"""
            DELETE FROM collection_slot s
            WHERE s.campaign_id = %(campaign)s AND {selectors.SLOT_FREE_SQL}
              AND NOT EXISTS (
                  SELECT 1 FROM collection_campaignaudience t
                  WHERE t.campaign_id = s.campaign_id AND t.audience_id = s.audience_id
                    AND s.index < t.overlap_k)
              -- Slots adaptive overlap added stay (`slots_extend`): the item earned them.
              AND NOT EXISTS (
                  SELECT 1 FROM collection_allocationdecision d
                  WHERE d.item_id = s.item_id AND d.audience_id = s.audience_id
                    AND s.index < d.k_after)
            """,
            {"campaign": campaign.pk, "now": now},
        )


def slots_extend(*, campaign: Campaign, extensions: list[tuple[int, int, int, int]]) -> int:
    """Give (item, audience) pairs more slots: each ``(item_id, audience_id, k_before,
    k_after)`` gets the slots ``k_before`` .. ``k_after - 1``; the number added.

    Adaptive overlap's way to raise one item's k (`aggregation.allocation`). The
    caller holds `campaign_lock_slots` and has counted ``k_before`` under it, so the new
    indexes follow the existing ones; a researcher raising the base k at the same
    moment (`campaign_sync_slots`, which may have added the same indexes first) is why
    a conflict is skipped rather than raised.
    """
    if not extensions:
        return 0
    items, audiences, before, after = (list(column) for column in zip(*extensions, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
            SELECT %s, e.audience_id, e.item_id, s.n, false
            FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::int[])
                AS e(item_id, audience_id, k_before, k_after)
            CROSS JOIN LATERAL generate_series(e.k_before, e.k_after - 1) AS s(n)
            ORDER BY e.item_id, e.audience_id, s.n
            ON CONFLICT (item_id, audience_id, index) DO NOTHING
            """,
            [campaign.pk, items, audiences, before, after],
        )
        return cursor.rowcount
