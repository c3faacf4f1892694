"""Audiences, participants, campaigns, items, assignments and responses.

Invariants that can live in the database do (see each model's Meta); the rest
are held by `collection.services` under row locks.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection import kinds, payloads


class Audience(models.Model):
    """A population whose feedback is collected and exported separately."""

    class Kind(models.TextChoices):
        MASS = "mass", "Mass (everyone)"
        PUBLIC = "public", "Public (a defined population)"
        GROUP = "group", "Small group"
        DYADIC = "dyadic", "Dyadic (one person)"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    description = models.TextField(blank=True, max_length=5000)
    # [{"name": "age_band", "label": "Age band", "choices": ["18-29", ...]}]
    attribute_schema = models.JSONField(default=list, blank=True)
    # {"age_band": {"18-29": 0.21, ...}}: public audiences only.
    target_marginals = models.JSONField(default=dict, blank=True)
    # Public audiences: open (anyone may join) or screened (by invitation).
    screened = models.BooleanField(default=False)
    max_members = models.PositiveIntegerField(
        null=True, blank=True, help_text="Group audiences: the most members allowed."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="dyadic") | Q(max_members=1), name="audience_dyad_has_one_member"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_open_signup(self) -> bool:
        return self.kind == self.Kind.MASS or (self.kind == self.Kind.PUBLIC and not self.screened)

    def attribute_names(self) -> list[str]:
        return [attribute["name"] for attribute in self.attribute_schema]

    def clean(self) -> None:
        if self.kind == self.Kind.DYADIC:
            self.max_members = 1
        try:
            payloads.validate_attribute_schema(self.attribute_schema)
            payloads.validate_target_marginals(
                self.target_marginals, self.attribute_schema, kind=self.kind
            )
        except payloads.PayloadError as error:
            raise ValidationError({error.field.split(".")[0]: error.message}) from error
        if self.kind == self.Kind.GROUP and not self.max_members:
            raise ValidationError({"max_members": "A group audience needs a member limit."})


class Participant(models.Model):
    """The annotator side of a user account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participant"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"participant {self.pk} ({self.user.get_username()})"


class Withdrawal(models.Model):
    """A participant leaving one campaign, or the whole platform (campaign empty).

    Their responses are marked withdrawn at the same moment and leave every later
    release; they are not served that campaign (or any campaign) again.
    """

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="withdrawals"
    )
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="withdrawals"
    )
    responses_withdrawn = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Withdrawing is done once per scope: asking again returns the first one.
            models.UniqueConstraint(
                fields=["participant"],
                condition=Q(campaign__isnull=True),
                name="withdrawal_once_from_platform",
            ),
            models.UniqueConstraint(
                fields=["participant", "campaign"], name="withdrawal_once_per_campaign"
            ),
        ]

    def __str__(self) -> str:
        scope = self.campaign.slug if self.campaign_id else "the platform"
        return f"{self.participant} withdrew from {scope}"


class Invitation(models.Model):
    """A link that lets people join an invite-only audience."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="invitations")
    token = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe)
    note = models.CharField(max_length=200, blank=True)
    max_uses = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(uses__lte=models.F("max_uses")), name="invitation_uses_within_max"
            ),
        ]

    def __str__(self) -> str:
        return f"invitation to {self.audience.slug} ({self.uses}/{self.max_uses})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            not self.revoked
            and self.uses < self.max_uses
            and (self.expires_at is None or self.expires_at > now)
        )


class JoinedVia(models.TextChoices):
    OPEN = "open", "Open sign-up"
    INVITED = "invited", "Invitation"
    SCREENED = "screened", "Screened (a screened public audience)"
    PANEL = "panel", "Panel link"


class Membership(models.Model):
    """A participant in an audience, with the attributes that audience asks for."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="memberships"
    )
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="memberships")
    # Copied from the audience so that "one member per dyad" is a database constraint.
    audience_kind = models.CharField(max_length=8, choices=Audience.Kind.choices, editable=False)
    attributes = models.JSONField(default=dict, blank=True)
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships"
    )
    joined_at = models.DateTimeField(default=timezone.now)
    # How the participant came in, as releases publish it (`joined_via` on every row).
    # Blank: not recorded at the join, so releases derive it (screened public audience,
    # else invitation, else open sign-up: `aggregation.selectors.JOINED_VIA`); an entry
    # path that the fields above cannot tell apart (a panel link) records it here.
    joined_via = models.CharField(
        max_length=16, choices=JoinedVia.choices, blank=True, default="", db_default=""
    )

    class Meta:
        ordering = ["audience_id", "joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "audience"], name="membership_once_per_audience"
            ),
            models.UniqueConstraint(
                fields=["audience"],
                condition=Q(audience_kind="dyadic"),
                name="membership_one_member_per_dyad",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} in {self.audience.slug}"

    @property
    def profile_complete(self) -> bool:
        return all(name in self.attributes for name in self.audience.attribute_names())

    def clean(self) -> None:
        try:
            payloads.validate_attributes(self.attributes, self.audience.attribute_schema)
        except payloads.PayloadError as error:
            raise ValidationError({"attributes": error.message}) from error


class Campaign(models.Model):
    """What is collected, from which audiences, and how much."""

    class Competence(models.TextChoices):
        KNOWLEDGE = "knowledge", "Knowledge (question–answer items)"
        SKILL = "skill", "Skill (demonstrations)"
        BEHAVIOUR = "behaviour", "Behaviour (preferences)"

    class Transience(models.TextChoices):
        SEMANTIC = "semantic", "Semantic (holds in any context)"
        EPISODIC = "episodic", "Episodic (bound to a given situation)"

    # The built-in kinds' names, for code that means one of them. The field's choices
    # are the registry's (`collection.kinds`), so a new kind is a module, not a migration.
    class ItemKind(models.TextChoices):
        PREFERENCE = "preference", "Preference"
        DEMONSTRATION = "demonstration", "Demonstration"
        QA = "qa", "Question–answer"

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
        if errors:
            raise ValidationError(errors)


class CampaignAudience(models.Model):
    """A campaign's target audience, with the overlap k wanted per item."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="targets")
    overlap_k = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    # Public audiences: once no more than this share of the slots is left, they are
    # kept for participants from strata still below their target share.
    stratum_reserve_share = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )

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


class Item(models.Model):
    """One thing to annotate: a prompt, an optional context and a kind payload."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200, null=True, blank=True)
    prompt = models.TextField(max_length=payloads.MAX_PROMPT_CHARS)
    # {"messages": [{"role", "content"}], "situation": str, "persona": str}
    context = models.JSONField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    is_attention_check = models.BooleanField(default=False)
    expected = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Database defaults: imports and benchmarks insert rows in SQL (COPY) without them.
    # Editing an item's text makes a new version; judgements stay with the text they
    # judged, and the old version is no longer served (its external_id passes on).
    version = models.PositiveSmallIntegerField(default=1, db_default=1)
    previous_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    # A researcher left the item out of later releases; it is no longer served either.
    excluded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "external_id"],
                condition=Q(superseded_at__isnull=True),
                name="item_external_id_unique_per_campaign",
            ),
            models.CheckConstraint(
                condition=Q(is_attention_check=False) | Q(expected__isnull=False),
                name="item_attention_check_has_expected",
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "id"],
                condition=Q(is_attention_check=True),
                name="item_attention_checks",
            ),
            # Every release asks for the few excluded items; no scan of a million.
            models.Index(
                fields=["campaign", "id"],
                condition=Q(excluded_at__isnull=False),
                name="item_excluded",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id or f"item {self.pk}"

    @property
    def is_retired(self) -> bool:
        return self.superseded_at is not None or self.excluded_at is not None

    @property
    def candidates(self) -> list[dict]:
        return self.payload.get("candidates", [])

    @property
    def messages(self) -> list[dict]:
        return (self.context or {}).get("messages", [])

    def clean(self) -> None:
        try:
            payloads.validate_item(
                kind=self.campaign.item_kind,
                prompt=self.prompt,
                context=self.context,
                payload=self.payload,
                expected=self.expected if self.is_attention_check else None,
                episodic=self.campaign.is_episodic,
                preference_format=self.campaign.preference_format,
            )
        except payloads.PayloadError as error:
            raise ValidationError({error.field.split(".")[0]: error.message}) from error


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


class ApiToken(models.Model):
    """A named, revocable key for scripts; only a hash of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
