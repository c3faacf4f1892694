"""Adaptive overlap (issue #15, item 3): a campaign's rule for giving an item more than
its base k where audiences disagree, and the log of every decision the rule made.

The rule is per campaign, not per target: its first statistic, the Jensen–Shannon
divergence, compares the audiences with each other, so one threshold for the whole
campaign is what it can mean. The base k stays each target's ``overlap_k``; ``max_k``
caps every targeted audience (an audience whose base k is already at or above it gets
no extra). The statistics and their thresholds are explained in
`aggregation.metrics.adaptive`, which decides.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection.models.audiences import Audience
from collection.models.campaigns import Campaign
from collection.models.items import Item


class AdaptiveOverlap(models.Model):
    """A campaign's adaptive overlap: up to ``max_k`` judgements per (item, audience)."""

    class Rule(models.TextChoices):
        DIVERGENCE = "divergence", "Audiences diverge (Jensen–Shannon divergence)"
        ENTROPY = "entropy", "An audience is split (vote entropy)"
        EITHER = "either", "Either of the two"

    # Defaults, explained where the rule is stated (aggregation/metrics/adaptive.py).
    DEFAULT_JSD_THRESHOLD = 0.2
    DEFAULT_ENTROPY_THRESHOLD = 0.8

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="adaptive")
    max_k = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
        help_text="Most judgements an item may get from one audience.",
    )
    step = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Slots added per audience each time the rule says more.",
    )
    rule = models.CharField(max_length=10, choices=Rule.choices, default=Rule.DIVERGENCE)
    jsd_threshold = models.FloatField(
        default=DEFAULT_JSD_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Between-audience Jensen–Shannon divergence (bits, 0–1) above which an "
        "item gets more judgements.",
    )
    entropy_threshold = models.FloatField(
        default=DEFAULT_ENTROPY_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Within-audience normalised vote entropy (0–1) above which an item gets "
        "more judgements.",
    )

    # The pass looks only at items answered since it last finished (less a margin), so
    # that it does not count every slot of a large campaign every few seconds; None
    # (new or changed setting): look at every item.
    checked_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(max_k__gte=2), name="adaptive_max_k_min_2"),
            models.CheckConstraint(condition=Q(step__gte=1), name="adaptive_step_min_1"),
            models.CheckConstraint(
                condition=Q(jsd_threshold__gte=0, jsd_threshold__lte=1),
                name="adaptive_jsd_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(entropy_threshold__gte=0, entropy_threshold__lte=1),
                name="adaptive_entropy_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug}: up to k={self.max_k} ({self.rule})"

    def clean(self) -> None:
        # The rule compares votes; other item kinds have none (the admin's form asks this).
        if self.campaign_id and self.campaign.item_kind != Campaign.ItemKind.PREFERENCE:
            raise ValidationError("Only preference campaigns take adaptive overlap.")


class AllocationDecision(models.Model):
    """One decision of the rule for one (item, audience): the allocation log.

    Written once an item has every slot of every targeted audience filled; ``k_after``
    equals ``k_before`` when the rule said no more (or max k was reached). The release
    publishes these rows, because which items got more judgements depended on the
    judgements themselves (see the card).
    """

    class Reason(models.TextChoices):
        DIVERGENCE = "divergence", "Audiences diverge"
        ENTROPY = "entropy", "Audience split"
        AGREE = "agree", "Audiences agree"
        MAX_K = "max_k", "At max k"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    # The rule's statistics as they stood: the item's largest between-audience JSD
    # (null with one audience) and this audience's normalised vote entropy, over
    # ``votes`` judgements of this audience.
    jsd = models.FloatField(null=True, blank=True)
    entropy = models.FloatField(null=True, blank=True)
    votes = models.PositiveIntegerField()
    k_before = models.PositiveSmallIntegerField()
    k_after = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["item_id", "audience_id", "k_before"]
        constraints = [
            # One decision per round: the pass that finds an item full at k decides once.
            models.UniqueConstraint(
                fields=["item", "audience", "k_before"], name="allocation_once_per_round"
            ),
            models.CheckConstraint(
                condition=Q(k_after__gte=models.F("k_before")), name="allocation_never_lowers_k"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "audience"], name="allocation_by_target")]

    def __str__(self) -> str:
        return f"item {self.item_id} / {self.audience_id}: k {self.k_before}→{self.k_after}"
