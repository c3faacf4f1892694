"""Audiences, participants, memberships, invitations and withdrawals."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection import payloads


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
