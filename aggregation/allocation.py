"""Adaptive overlap's pass: give items where audiences disagree more slots, and log why.

Off the submission path: Celery beat runs `adaptive_overlap_allocate_all` every
``ADAPTIVE_OVERLAP_SECONDS`` (task ``aggregation.adaptive_overlap_allocate``), and
``aggregation.adaptive_overlap_allocate_campaign`` does one campaign (the hot path may
queue it by name after commit, ``send_task``, if a 10 s delay ever matters; it needs no
import of this module). Submitting never waits for it.

How the engine's invariants survive it:

- capacity stays rows: the pass only inserts `Slot` rows (`collection.slots.slots_extend`)
  at indexes after the ones an item has, so completed + live leases never exceed the
  item's current k, and the engine's search serves them like any other slot (never the
  same item twice: that is the `Assignment` row; the cap is unchanged);
- it holds the campaign's slot creation (`campaign_lock_slots`, the campaign row FOR NO
  KEY UPDATE) while it counts and adds, so two passes, or a pass and an import, run
  one after the other; annotators take FOR KEY SHARE and SKIP LOCKED and never wait;
- one decision per (item, audience, k) (``allocation_once_per_round``): a repeated pass
  finds nothing pending.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from aggregation.metrics import adaptive as rule
from aggregation.selectors import allocation as reads
from collection.models import AdaptiveOverlap, AllocationDecision, Campaign
from collection.slots import campaign_lock_slots, slots_extend

# Items decided per transaction: the slot lock is held for one batch only, so an import
# waits at most that long.
BATCH_ITEMS = 500


@dataclasses.dataclass(frozen=True)
class AllocationResult:
    items_decided: int = 0
    items_extended: int = 0
    slots_added: int = 0


def _rule_of(settings: AdaptiveOverlap) -> rule.Rule:
    return rule.Rule(
        max_k=settings.max_k,
        step=settings.step,
        rule=settings.rule,
        jsd_threshold=settings.jsd_threshold,
        entropy_threshold=settings.entropy_threshold,
    )


# How far before the last pass's start the next one looks for answered items: a
# response's `created_at` is set before its transaction commits, so one committed just
# after a pass began is still seen by the next (submissions take milliseconds).
ANSWERED_MARGIN = timedelta(seconds=60)


def adaptive_overlap_allocate(
    *, campaign: Campaign, batch_items: int = BATCH_ITEMS
) -> AllocationResult:
    """Decide every item of the campaign that is full at its k in every targeted audience
    (of the items answered since the last pass, less `ANSWERED_MARGIN`)."""
    started = timezone.now()
    settings = AdaptiveOverlap.objects.filter(campaign=campaign).first()
    if settings is None:
        return AllocationResult()
    since = settings.checked_until - ANSWERED_MARGIN if settings.checked_until else None
    decided = extended = added = after = 0
    while True:
        batch, after = _allocate_batch(campaign, batch_items, since, after)
        decided, extended, added = (
            decided + batch.items_decided,
            extended + batch.items_extended,
            added + batch.slots_added,
        )
        if batch.items_decided < batch_items:
            break
    # Unless the setting changed meanwhile (which asks for a full look again).
    AdaptiveOverlap.objects.filter(pk=settings.pk, checked_until=settings.checked_until).update(
        checked_until=started
    )
    return AllocationResult(decided, extended, added)


def _allocate_batch(
    campaign: Campaign, limit: int, since: datetime | None, after: int
) -> tuple[AllocationResult, int]:
    """One batch of items after item ``after``; the result and the batch's last item."""
    with transaction.atomic():
        campaign_lock_slots(campaign=campaign)
        settings = AdaptiveOverlap.objects.filter(campaign=campaign).first()
        if settings is None or campaign.item_kind != Campaign.ItemKind.PREFERENCE:
            return AllocationResult(), after
        audience_ids = sorted(campaign.targets.values_list("audience_id", flat=True))
        pending = reads.items_pending_decision(
            campaign=campaign, audience_ids=audience_ids, limit=limit, since=since, after=after
        )
        if not pending:
            return AllocationResult(), after
        votes = reads.item_votes(campaign=campaign, item_ids=[p.item_id for p in pending])
        decide = _rule_of(settings)
        now = timezone.now()
        decisions, extensions = [], []
        for item in pending:
            counts = votes[item.item_id]
            width = len(counts.candidates)
            allocation = rule.item_allocate(
                {
                    a: rule.AudienceVotes(
                        votes=counts.votes.get(a) or [0] * width,
                        ties=counts.ties.get(a, 0),
                        k=k,
                    )
                    for a, k in item.k.items()
                },
                decide,
            )
            for a, outcome in allocation.items():
                decisions.append(
                    AllocationDecision(
                        campaign=campaign,
                        item_id=item.item_id,
                        audience_id=a,
                        decided_at=now,
                        reason=outcome.reason,
                        jsd=outcome.jsd,
                        entropy=outcome.entropy,
                        votes=outcome.votes,
                        k_before=outcome.k_before,
                        k_after=outcome.k_after,
                    )
                )
                if outcome.k_after > outcome.k_before:
                    extensions.append((item.item_id, a, outcome.k_before, outcome.k_after))
        AllocationDecision.objects.bulk_create(decisions)
        added = slots_extend(campaign=campaign, extensions=extensions)
    result = AllocationResult(
        items_decided=len(pending),
        items_extended=len({item_id for item_id, *_ in extensions}),
        slots_added=added,
    )
    return result, pending[-1].item_id


def adaptive_overlap_allocate_all() -> dict[str, AllocationResult]:
    """Every open campaign with adaptive overlap (what beat runs)."""
    campaigns = Campaign.objects.filter(
        status=Campaign.Status.OPEN, adaptive__isnull=False
    ).order_by("pk")
    return {campaign.slug: adaptive_overlap_allocate(campaign=campaign) for campaign in campaigns}
