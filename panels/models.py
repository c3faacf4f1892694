"""Recruitment panels: a campaign's entry link for Prolific, MTurk-style panels or a
generic `?pid=`, and the people who came in through it.

An entrant is bound to (study, external id): entering twice resumes. The external
id is kept here only, for approval and payment; the participant it creates has a
random username and no e-mail, and releases never read this app's tables.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from collection.models import Audience, Campaign, Invitation, Participant


def _code() -> str:
    return secrets.token_hex(4).upper()


class PanelStudy(models.Model):
    class Panel(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "MTurk-style (workerId, assignmentId, hitId)"
        GENERIC = "generic", "Generic (?pid=)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="panel_studies")
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="panel_studies")
    panel = models.CharField(max_length=8, choices=Panel.choices)
    name = models.CharField(max_length=200, help_text="Shown to researchers only.")
    token = models.CharField(max_length=43, unique=True, default=secrets.token_urlsafe)
    # Entrants join the audience through this invitation (so a screened, invite-only
    # public audience admits them too); its use count is the number who got in.
    invitation = models.OneToOneField(
        Invitation, on_delete=models.PROTECT, related_name="panel_study", editable=False
    )
    places = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="How many people the study recruits."
    )
    # Explicit crossed cells, like Prolific's 50 (age band x sex x ethnicity):
    # [{"attributes": {"age": "18-27", "sex": "Female"}, "places": 4}, ...]. Empty:
    # quotas come from the audience's target marginals, one attribute at a time.
    quota_cells = models.JSONField(default=list, blank=True)
    judgements_required = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Judgements that complete the study (fewer if the work runs out).",
    )
    place_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A place left unfinished this long is given to someone else.",
    )
    completion_code = models.CharField(max_length=40, default=_code)
    screenout_code = models.CharField(max_length=40, default=_code)
    overquota_code = models.CharField(max_length=40, default=_code)
    # Where a finished participant goes; "{code}" is replaced by the code that applies.
    # Empty: Prolific's own completion URL for Prolific, otherwise a page showing the code.
    completion_url = models.URLField(max_length=500, blank=True)
    # For a group that never arrives: from this moment only the total number of places
    # counts, so the other groups may fill the rest. Set ahead (a deadline) or by the
    # researcher's decision on the study page; empty means the quotas hold.
    quotas_released_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "panel studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_panel_display()})"


class PanelEntrant(models.Model):
    class Status(models.TextChoices):
        ENTERED = "entered", "Entered (consent and screener to come)"
        WORKING = "working", "Working (holds a place)"
        COMPLETED = "completed", "Completed"
        SCREENED_OUT = "screened", "Screened out"
        OVER_QUOTA = "overquota", "Over quota"
        RETURNED = "returned", "Returned (gave up the place)"

    study = models.ForeignKey(PanelStudy, on_delete=models.CASCADE, related_name="entrants")
    external_id = models.CharField(max_length=200)
    # The panel's other ids (Prolific STUDY_ID and SESSION_ID, MTurk assignmentId and
    # hitId), for the completions file.
    panel_ids = models.JSONField(default=dict, blank=True)
    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="panel_entry"
    )
    # Attribute values the panel passed in the link: they pre-fill the screener and
    # are kept as the panel's, beside what the person then confirmed.
    panel_given = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.ENTERED)
    # The quota cell the place counts against (crossed cells) or the attribute values
    # (marginal quotas), fixed when the place is given.
    cell = models.JSONField(default=dict, blank=True)
    entered_at = models.DateTimeField(auto_now_add=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "external_id"], name="panel_entrant_once_per_study"
            )
        ]
        indexes = [models.Index(fields=["study", "status"], name="panel_entrant_by_status")]

    def __str__(self) -> str:
        return f"entrant {self.pk} of {self.study_id}"
