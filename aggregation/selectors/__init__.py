"""Reads behind releases and metrics: the exportable data, and the campaigns a user
may export (by `collection.permissions.campaigns_managed_by`, the one rule).

What a release (and the metrics) include is decided here, in one place:
responses of the campaign's ordinary items (attention checks are left out),
submitted up to the snapshot, not withdrawn, from participants who consented
to the campaign and (by default) passed its attention checks.

Judgements are read in item-id chunks: each chunk's item text once, then the
chunk's judgements as small rows (ids and short codes), each column packed by
PostgreSQL into one bytea that numpy and Arrow read without a Python object
per value; the next chunk is fetched while the caller works on this one. So
memory stays flat however many judgements there are. Coverage alone is
counted by PostgreSQL (`participants_in_selection`, `judgements_per_item`).

One module per concern; every public name is re-exported here (``selectors.x(...)``):

- ``access``: the campaigns, jobs and releases a researcher may see;
- ``selection``: ``ReleaseSelection``, what a release includes;
- ``participants``: the release's participants and counts (in PostgreSQL);
- ``judgements``: the chunked read of items and judgements (``chunks``);
- ``heldout``: the held-out participants' context sets (their first judgements);
- ``packed``: the packed-bytea columns both reads use.
"""

from aggregation.selectors.access import (
    campaign_for_researcher,
    export_job_for_researcher,
    export_jobs_for_campaign,
    release_for_campaign,
    releases_for_campaign,
)
from aggregation.selectors.heldout import heldout_context_keys, judgement_keys
from aggregation.selectors.judgements import (
    INT_SOURCES,
    ITEMS_SQL,
    JUDGEMENT_COLUMNS,
    JUDGEMENTS_SQL,
    NO_CANDIDATES,
    TEXT_SOURCES,
    Chunk,
    ItemChunk,
    JudgementRead,
    chunks,
    items_sql,
)
from aggregation.selectors.participants import (
    LIVE_RESPONSES,
    ORDINARY,
    PARTICIPANTS_SQL,
    PER_ITEM_SQL,
    Participants,
    campaign_has_messages,
    judgements_per_item,
    ordinary_item_ids,
    participants_in_selection,
    withdrawn_participants,
)
from aggregation.selectors.selection import (
    AudienceInfo,
    ReleaseSelection,
    abandoned_conversations,
    selection_audiences,
    withheld_counts,
    withheld_item_ids,
)

__all__ = [
    "INT_SOURCES",
    "ITEMS_SQL",
    "JUDGEMENTS_SQL",
    "JUDGEMENT_COLUMNS",
    "LIVE_RESPONSES",
    "NO_CANDIDATES",
    "ORDINARY",
    "PARTICIPANTS_SQL",
    "PER_ITEM_SQL",
    "TEXT_SOURCES",
    "AudienceInfo",
    "Chunk",
    "ItemChunk",
    "JudgementRead",
    "Participants",
    "ReleaseSelection",
    "abandoned_conversations",
    "campaign_for_researcher",
    "campaign_has_messages",
    "chunks",
    "export_job_for_researcher",
    "export_jobs_for_campaign",
    "heldout_context_keys",
    "items_sql",
    "judgement_keys",
    "judgements_per_item",
    "ordinary_item_ids",
    "participants_in_selection",
    "release_for_campaign",
    "releases_for_campaign",
    "selection_audiences",
    "withdrawn_participants",
    "withheld_counts",
    "withheld_item_ids",
]
