"""Reads of collected data, including the queries behind the assignment engine.

One module per concern; every public name is re-exported here (``selectors.x(...)``):

- ``engine``: the assignment engine's queries (memberships, counts, next free slot);
- ``slot_counts``: how a slot is counted, and the counts;
- ``progress``: a campaign's progress;
- ``quota_boards``: the engine's quotas of a campaign as the pages show them;
- ``lists``: the API's lists and their filters;
- ``workbench``: the workbench's reads, what a release may publish;
- ``raw``: model instances from raw SQL rows.
"""

from collection.selectors.engine import (
    ASSIGNMENT_FOR_UPDATE_SQL,
    COUNTS_SQL,
    MEMBERSHIPS_SQL,
    NEXT_FREE_SLOT_SQL,
    ParticipantCounts,
    assignment_for_update,
    attention_check_next,
    memberships_and_counts,
    memberships_for_campaign,
    participant_campaign_counts,
    slot_next_free,
    withdrawal_covering,
)
from collection.selectors.lists import (
    RESPONSE_FILTERS,
    api_token_list,
    audience_list,
    audiences_with_counts,
    campaign_list,
    campaign_targets,
    item_list,
    response_list,
)
from collection.selectors.progress import (
    campaign_progress,
)
from collection.selectors.quota_boards import engine_quota_boards
from collection.selectors.slot_counts import (
    SLOT_COUNTS_BY_AUDIENCE_SQL,
    SLOT_COUNTS_BY_CAMPAIGN_SQL,
    SLOT_COUNTS_SQL,
    SLOT_FREE_SQL,
    SLOT_LIVE_LEASE_SQL,
    GroupHolds,
    SlotCounts,
    slot_counts_by_audience,
    slot_counts_by_campaign,
    slots_held_by_group,
)
from collection.selectors.workbench import (
    RELEASABLE_ITEM_SQL,
    RELEASABLE_RESPONSE_SQL,
    ItemFilters,
    demonstrations_to_review,
    flags_open,
    item_votes_by_audience,
    items_for_browser,
    releasable_items,
    releasable_responses,
)

__all__ = [
    "ASSIGNMENT_FOR_UPDATE_SQL",
    "COUNTS_SQL",
    "MEMBERSHIPS_SQL",
    "NEXT_FREE_SLOT_SQL",
    "RELEASABLE_ITEM_SQL",
    "RELEASABLE_RESPONSE_SQL",
    "RESPONSE_FILTERS",
    "SLOT_COUNTS_BY_AUDIENCE_SQL",
    "SLOT_COUNTS_BY_CAMPAIGN_SQL",
    "SLOT_COUNTS_SQL",
    "SLOT_FREE_SQL",
    "SLOT_LIVE_LEASE_SQL",
    "GroupHolds",
    "ItemFilters",
    "ParticipantCounts",
    "SlotCounts",
    "api_token_list",
    "assignment_for_update",
    "attention_check_next",
    "audience_list",
    "audiences_with_counts",
    "campaign_list",
    "campaign_progress",
    "campaign_targets",
    "demonstrations_to_review",
    "engine_quota_boards",
    "flags_open",
    "item_list",
    "item_votes_by_audience",
    "items_for_browser",
    "memberships_and_counts",
    "memberships_for_campaign",
    "participant_campaign_counts",
    "releasable_items",
    "releasable_responses",
    "response_list",
    "slot_counts_by_audience",
    "slot_counts_by_campaign",
    "slot_next_free",
    "slots_held_by_group",
    "withdrawal_covering",
]
