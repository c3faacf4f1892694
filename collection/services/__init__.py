"""Every write to collected data: joining, consent, campaigns, items, the assignment engine.

The engine's invariants (docs/architecture.md, "Invariants") and how they are held:

- capacity lives in `Slot` rows (k per item and audience); a lease or a response
  occupies one slot, so completed + live leases never exceed k;
- the next free slot is found by walking the partial index ``slot_open_in_order``
  and locked with ``FOR UPDATE SKIP LOCKED``: concurrent annotators take
  different slots without waiting for each other;
- one participant's requests are serialised by an advisory lock on their id, so
  two tabs cannot both pass the per-participant cap;
- ``Assignment`` has one row per (item, participant) ever, so nobody is served
  the same item twice, even after a skip;
- a submission is stored once per idempotency key (unique per participant).

Lock order. Every transaction that touches a participant's work takes its locks in
this order, and only this order, so no two of them can wait on each other in a cycle
(a submission once locked its assignment and then the participant, while withdrawal
did the reverse: an outside probe saw 75 of 128 simultaneous pairs deadlock, the race
test 43-47 of 128 requests):

1. the participant's advisory lock (``_lock_participant``), first, before any row;
   then, serving the next item of a public audience with targets, the advisory lock
   of each of the member's groups (``assignment._stratum_may_take``, sorted);
2. the audience row, then the invitation row (joining only);
3. the participant's assignment rows;
4. slot rows: only the slot an assignment of theirs holds (a plain lock), or a free
   one taken with SKIP LOCKED, which never waits;
5. inserts (responses, assignments, memberships, consents, withdrawals).

Submitting, skipping and flagging, serving the next item (renewing one's own expired
lease, or taking over another's with SKIP LOCKED), withdrawing from a campaign or the
platform, joining and consenting all follow it; `tests/collection/test_lock_order.py`
races submissions against withdrawals through the API. Researchers' changes to k
(``campaign_sync_slots``) take no participant lock and touch only free slots. An
import takes no participant lock either: it holds its campaign's slot creation
(``slots.campaign_lock_slots``, the campaign row FOR NO KEY UPDATE) for its whole
transaction, which no lock above waits for.

Where each write lives (one module per concern; every public name is re-exported here,
so callers write ``from collection import services; services.response_submit(...)``):

- ``errors``: ``ServiceError`` and its subclasses (the refusals, with status and field);
- ``locks``: ``_lock_participant``, step 1 of the lock order above;
- ``tokens``: API tokens;
- ``audiences``: participants, audiences, invitations, memberships, consent;
- ``campaigns``: campaigns, their targets (k) and status;
- ``adaptive``: a campaign's adaptive overlap setting (the pass is `aggregation.allocation`);
- ``items``: items, generated candidates, the import check;
- ``assignment``: the engine (next item, lease, skip, skip-and-next);
- ``responses``: submission (and submit-and-next);
- ``edits``: changing one's last answer while the item is still one's own;
- ``withdrawal``: withdrawal;
- ``workbench``: the researcher workbench's writes (exclude, new version, flags, review).
"""

from collection.services.adaptive import (
    AdaptiveSetting,
    campaign_adaptive_setting,
    campaign_set_adaptive,
)
from collection.services.assignment import (
    NoItem,
    assignment_next,
    assignment_skip,
    assignment_skip_and_next,
)
from collection.services.audiences import (
    audience_create,
    audience_set_targets,
    consent_give,
    invitation_accept,
    invitation_create,
    membership_join,
    membership_set_attributes,
    participant_ensure_not_withdrawn,
    participant_get_or_create,
)
from collection.services.campaigns import (
    CAMPAIGN_SETTINGS,
    CAMPAIGN_TRANSITIONS,
    COMPETENCE_FOR_KIND,
    KEEP,
    CampaignTarget,
    campaign_create,
    campaign_release_quotas,
    campaign_set_status,
    campaign_set_target,
    campaign_update,
)
from collection.services.edits import response_edit, response_last_editable
from collection.services.errors import (
    Conflict,
    ConsentRequired,
    LeaseExpired,
    NotEligible,
    NotFound,
    ProfileRequired,
    ServiceError,
    Withdrawn,
    payload_error,
)
from collection.services.items import (
    IMPORT_CHECK_MAX_ERRORS,
    IMPORT_PREVIEW_ROWS,
    ImportCheck,
    item_candidates_append,
    items_candidates_append,
    items_check,
    items_create,
)
from collection.services.responses import Submission, response_submit, response_submit_and_next
from collection.services.tokens import api_token_create, api_token_revoke
from collection.services.withdrawal import participant_withdraw
from collection.services.workbench import (
    CAMPAIGN_COPIED_FIELDS,
    audience_update,
    campaign_duplicate,
    campaign_target_remove,
    flag_dismiss,
    invitation_revoke,
    item_exclude,
    item_new_version,
    response_review,
)

__all__ = [
    "CAMPAIGN_COPIED_FIELDS",
    "CAMPAIGN_SETTINGS",
    "CAMPAIGN_TRANSITIONS",
    "COMPETENCE_FOR_KIND",
    "IMPORT_CHECK_MAX_ERRORS",
    "IMPORT_PREVIEW_ROWS",
    "KEEP",
    "AdaptiveSetting",
    "CampaignTarget",
    "Conflict",
    "ConsentRequired",
    "ImportCheck",
    "LeaseExpired",
    "NoItem",
    "NotEligible",
    "NotFound",
    "ProfileRequired",
    "ServiceError",
    "Submission",
    "Withdrawn",
    "api_token_create",
    "api_token_revoke",
    "assignment_next",
    "assignment_skip",
    "assignment_skip_and_next",
    "audience_create",
    "audience_set_targets",
    "audience_update",
    "campaign_adaptive_setting",
    "campaign_create",
    "campaign_duplicate",
    "campaign_release_quotas",
    "campaign_set_adaptive",
    "campaign_set_status",
    "campaign_set_target",
    "campaign_target_remove",
    "campaign_update",
    "consent_give",
    "flag_dismiss",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "item_candidates_append",
    "item_exclude",
    "item_new_version",
    "items_candidates_append",
    "items_check",
    "items_create",
    "membership_join",
    "membership_set_attributes",
    "participant_ensure_not_withdrawn",
    "participant_get_or_create",
    "participant_withdraw",
    "payload_error",
    "response_edit",
    "response_last_editable",
    "response_review",
    "response_submit",
    "response_submit_and_next",
]
