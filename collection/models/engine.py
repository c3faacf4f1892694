"""The assignment engine's rows: slots (capacity), assignments (leases) and responses."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection.models.audiences import Audience, Participant
from collection.models.campaigns import Campaign
from collection.models.items import Item


class Slot(models.Model):
    """One of the k places an (item, audience) pair has for a response.

    Capacity is rows, not a counter: an item targeted at an audience with overlap
    k has k slots, and each slot holds at most one live lease or one response.
    "Completed plus live leases never exceed k" therefore holds by construction,
    and serving the next item locks a single slot row with SKIP LOCKED, so
    concurrent annotators never wait on, or double-book, the same place.
    Slots are filled in index order across items (every item's slot 0 before
    any slot 1), which is the breadth-first fill.
    """

    # Slots are bookkeeping rows written only by `services.campaign_sync_slots` (and
    # `item_candidates_append` for an item given its candidates late), three
    # or so per item, and they carry no database foreign keys: each would be checked per
    # row, and for an import of 100,000 items at k=3 the 900,000 checks took longer than
    # everything else together (measured: the item's check alone 3 s at commit). Instead:
    # - the insert takes campaign, audience and item from the campaign's targets and its
    #   items in one statement, so a slot cannot point at anything that is not there;
    # - deleting through Django cascades as before, and deleting items in SQL deletes
    #   their slots too (the `slot_follows_item` trigger, migration 0003);
    # - campaign and audience are copies kept for the next-item index; one index
    #   (`slot_by_target`) serves the counts by campaign and audience, and `slot_unique`
    #   starts with the item.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    audience = models.ForeignKey(
        Audience, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="slots", db_constraint=False, db_index=False
    )
    index = models.PositiveSmallIntegerField()
    filled = models.BooleanField(default=False)
    holder = models.ForeignKey(
        "Assignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "audience", "index"], name="slot_unique"),
        ]
        indexes = [
            # The next-item query walks this index in order and stops at the first
            # free slot it can lock: no scan of the campaign's items.
            models.Index(
                fields=["campaign", "audience", "index", "item"],
                condition=Q(filled=False),
                name="slot_open_in_order",
            ),
            # Progress and coverage counts of one campaign (and audience).
            models.Index(fields=["campaign", "audience"], name="slot_by_target"),
            # Most slots hold no lease: only the held ones are indexed (for SET NULL).
            models.Index(fields=["holder"], condition=Q(holder__isnull=False), name="slot_held"),
        ]

    def __str__(self) -> str:
        return f"slot {self.index} of item {self.item_id} for audience {self.audience_id}"


class Assignment(models.Model):
    """A lease of one item to one participant, with an expiry.

    One row per (item, participant), ever: that row is how "never the same item
    twice" is kept, including for skipped and flagged items.
    """

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        COMPLETED = "completed", "Completed"
        SKIPPED = "skipped", "Skipped"
        FLAGGED = "flagged", "Flagged"
        RELEASED = "released", "Released (withdrawn)"

    class FlagResolution(models.TextChoices):
        EXCLUDED = "excluded", "Item excluded from releases"
        EDITED = "edited", "Item text edited (new version)"
        DISMISSED = "dismissed", "Flag dismissed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments")
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="assignments"
    )
    # Attention checks have no slot: every participant may be given them.
    slot = models.ForeignKey(
        Slot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.LEASED)
    leased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    flag_reason = models.CharField(max_length=1000, blank=True)
    flag_resolution = models.CharField(
        max_length=9, choices=FlagResolution.choices, blank=True, db_default=""
    )
    flag_resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="assignment_item_once"),
        ]
        indexes = [
            models.Index(fields=["participant", "campaign", "status"], name="assignment_by_person"),
            models.Index(
                fields=["campaign", "status"],
                condition=Q(status="flagged"),
                name="assignment_flagged",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} → {self.participant_id} ({self.status})"

    def is_live(self, now=None) -> bool:
        return self.status == self.Status.LEASED and self.expires_at > (now or timezone.now())


class Response(models.Model):
    """A participant's answer to one item, counted for one audience."""

    class Review(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="responses")
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="responses")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="responses")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="response"
    )
    payload = models.JSONField()
    time_on_task_ms = models.PositiveIntegerField()
    idempotency_key = models.UUIDField(default=uuid.uuid4)
    # None for ordinary items; True/False for attention checks.
    attention_passed = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Demonstrations only: a researcher's review; a rejected one leaves later releases.
    review = models.CharField(max_length=8, choices=Review.choices, blank=True, db_default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "item"], name="response_once_per_item"),
            models.UniqueConstraint(
                fields=["participant", "idempotency_key"], name="response_idempotency_key"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "audience", "item"], name="response_by_item"),
            models.Index(fields=["campaign", "created_at"], name="response_by_time"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} to item {self.item_id}"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None
