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
            """,
            {"campaign": campaign.pk, "now": now},
        )
