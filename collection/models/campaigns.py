"""Campaigns, their targets (one per audience, with k) and consents."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection import kinds, payloads
from collection.markdown import render_markdown
from collection.models.audiences import Audience, Participant


class Campaign(models.Model):
    """What is collected, from which audiences, and how much."""

    class Competence(models.TextChoices):
        KNOWLEDGE = "knowledge", "Knowledge (question–answer items)"
        SKILL = "skill", "Skill (demonstrations)"
        BEHAVIOUR = "behaviour", "Behaviour (preferences)"

    class Transience(models.TextChoices):
        SEMANTIC = "semantic", "Semantic (holds in any context)"
        EPISODIC = "episodic", "Episodic (bound to a given situation)"

    # The registered kinds' names (`collection.kinds.Names`); the field's choices are the
    # registry's too, so a new kind is a module, not a migration.
    ItemKind = kinds.Names()

    class PreferenceFormat(models.TextChoices):
        CHOICE = "choice", "Pick the better of two (or a tie)"
        RANKING = "ranking", "Rank all candidates"
        RATING = "rating", "Rate each candidate"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    instructions = models.TextField(blank=True, max_length=20000)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="owned_campaigns")
    competence = models.CharField(max_length=10, choices=Competence.choices)
    transience = models.CharField(
        max_length=8, choices=Transience.choices, default=Transience.SEMANTIC
    )
    item_kind = models.CharField(max_length=kinds.MAX_NAME_CHARS, choices=kinds.choices)
    preference_format = models.CharField(
        max_length=8, choices=PreferenceFormat.choices, default=PreferenceFormat.CHOICE
    )
    # A rating scale (inclusive) enables per-candidate ratings; required for the rating format.
    rating_min = models.SmallIntegerField(null=True, blank=True)
    rating_max = models.SmallIntegerField(null=True, blank=True)
    # Single-response ratings: the attributes scored on that scale (`payloads.validate_rubric`);
    # empty: one overall score.
    rating_rubric = models.JSONField(default=list, blank=True)
    ask_rationale = models.BooleanField(default=False)
    ask_confidence = models.BooleanField(default=False)
    audiences = models.ManyToManyField(
        Audience, through="CampaignAudience", related_name="campaigns"
    )
    per_participant_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most items one participant may complete; empty: no cap."
    )
    attention_check_share = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)]
    )
    lease_seconds = models.PositiveIntegerField(default=15 * 60, validators=[MinValueValidator(30)])
    consent_text = models.TextField(
        max_length=20000,
        default="I agree that my answers are stored and published in pseudonymous datasets "
        "for research on AI alignment. I may withdraw at any time, and my answers then "
        "leave every later release.",
    )
    consent_version = models.CharField(max_length=32, default="1")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(attention_check_share__gte=0) & Q(attention_check_share__lte=0.5),
                name="campaign_attention_share_range",
            ),
            models.CheckConstraint(
                condition=Q(rating_min__isnull=True, rating_max__isnull=True)
                | Q(rating_min__lt=models.F("rating_max")),
                name="campaign_rating_scale_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(preference_format="rating") | Q(rating_min__isnull=False),
                name="campaign_rating_format_has_scale",
            ),
            # The database's copy of the rating kind's `scores_rubric` rule (clean() asks
            # the kind): a constraint is a migration, so it names the one kind that has it.
            models.CheckConstraint(
                condition=~Q(item_kind="rating") | Q(rating_min__isnull=False),
                name="campaign_rating_kind_has_scale",
            ),
            models.CheckConstraint(
                condition=Q(rating_min__isnull=True)
                | Q(rating_max__lte=models.F("rating_min") + (payloads.MAX_RATING_POINTS - 1)),
                name="campaign_rating_scale_at_most_11_points",
            ),
            models.CheckConstraint(
                condition=Q(per_participant_cap__isnull=True) | Q(per_participant_cap__gte=1),
                name="campaign_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rating_scale(self) -> tuple[int, int] | None:
        if self.rating_min is None or self.rating_max is None:
            return None
        return (self.rating_min, self.rating_max)

    @property
    def rubric(self) -> list[dict]:
        """What a single-response rating scores: the rubric, or one overall score."""
        return payloads.rubric_or_default(self.rating_rubric)

    @property
    def rubric_names(self) -> tuple[str, ...]:
        if not self._scores_rubric:
            return ()
        return tuple(attribute["name"] for attribute in self.rubric)

    @property
    def instructions_html(self) -> str:
        """The instructions as participants read them (the workbench previews the same)."""
        return render_markdown(self.instructions)

    @property
    def item_kind_spec(self) -> kinds.Kind | None:
        """What the campaign's item kind declares (`collection.kinds`); None while a
        campaign being created names no registered kind. Templates ask it too
        (``campaign.item_kind_spec.has_candidates``)."""
        return kinds.find(self.item_kind)

    @property
    def _scores_rubric(self) -> bool:
        return self.item_kind_spec is not None and self.item_kind_spec.scores_rubric

    @property
    def is_episodic(self) -> bool:
        return self.transience == self.Transience.EPISODIC

    def clean(self) -> None:
        errors = {}
        try:
            payloads.validate_rating_scale(self.rating_min, self.rating_max)
        except payloads.PayloadError as error:
            errors[error.field] = error.message
        if self.preference_format == self.PreferenceFormat.RATING and self.rating_min is None:
            errors["rating_min"] = "The rating format needs a rating scale."
        if self._scores_rubric and self.rating_min is None:
            errors["rating_min"] = "A rating campaign needs a rating scale."
        try:
            self.rating_rubric = payloads.validate_rubric(self.rating_rubric)
        except payloads.PayloadError as error:
            # The field's name, so forms can show it; the message says which attribute.
            where = error.field.removeprefix("rating_rubric").lstrip(".")
            errors["rating_rubric"] = f"{where}: {error.message}" if where else error.message
        else:
            if self.rating_rubric and not self._scores_rubric:
                errors["rating_rubric"] = "Only single-response rating campaigns take a rubric."
        if errors:
            raise ValidationError(errors)


class CampaignAudience(models.Model):
    """A campaign's target audience, with the overlap k wanted per item."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="targets")
    overlap_k = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    # Public audiences with targets: each attribute value holds at most its target share
    # of the slots (`collection.quotas`, checked as each slot is taken). From this moment
    # (set ahead, or "now" by the researcher) the quotas no longer hold, for a group that
    # never arrives: without it, its slots would stay empty for good.
    quota_release_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign_id", "audience_id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "audience"], name="target_once"),
            models.CheckConstraint(condition=Q(overlap_k__gte=1), name="target_overlap_k_min_1"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug} → {self.audience.slug} (k={self.overlap_k})"


class Consent(models.Model):
    """What a participant agreed to, when, and which version of the text."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="consents")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="consents")
    version = models.CharField(max_length=32)
    text = models.TextField()
    agreed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-agreed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "campaign", "version"], name="consent_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} consented to {self.campaign.slug} v{self.version}"
