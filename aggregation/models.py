"""Export jobs and the releases they publish.

An `ExportJob` is a researcher's request to build a release of one campaign;
a `Release` is the immutable, versioned folder the job published (docs/architecture.md,
"Release layout"). The job is kept after it succeeds: it holds the parameters and
the pseudonym key the release was built with, so re-running it gives the same
bytes.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection.models import Audience, Campaign

# The datasets a release can hold are registered in `aggregation.release.datasets`.
FORMATS = ("parquet", "jsonl", "openai")
DEFAULT_OPTIONS = {
    "min_cell_size": 5,
    "exclude_failed_attention": True,
    # How many failed attention checks a participant may have and stay in.
    "attention_failures_allowed": 0,
    "license": "cc-by-4.0",
    # Judgements per read-and-write batch; part of the parameters because it
    # sets the Parquet row groups, and so the bytes.
    "batch_rows": 50_000,
    # Seeds every random draw of the build (the bootstrap intervals of the metrics), so
    # the same job always gives the same bytes.
    "seed": 0,
    # Krippendorff's α over fewer units judged at least twice is shown as "too few
    # overlapping judgements" (metrics.json keeps it, with its support).
    "min_pairable_units": settings.PLURALIGN_MIN_PAIRABLE_UNITS,
    # The pluralistic views (`aggregation.release.splits`, `aggregation.release.datasets`):
    # the seed and share of the train/test splits, the judgements in a held-out
    # participant's context set, and the examples in an in-context pack.
    "split_seed": 0,
    "test_percent": 20,
    "context_judgements": 4,
    "icl_examples": 8,
    # The split views (preferences by participant and by item, held-out participants)
    # write the strict pairs again: true, false, or "auto" (built up to
    # `aggregation.release.splits.SPLIT_VIEWS_AUTO_LIMIT` judgements, where they cost
    # little; a larger release builds them when asked).
    "split_views": "auto",
}


def new_pseudonym_key() -> str:
    return secrets.token_hex(32)


class ExportJob(models.Model):
    """A request to build the next release of a campaign, and how far it got."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="export_jobs")
    # Empty: every audience the campaign targets.
    audiences = models.ManyToManyField(Audience, blank=True, related_name="+")
    kinds = models.JSONField(default=list, blank=True)
    formats = models.JSONField(default=list, blank=True)
    options = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField()
    # Responses submitted after this moment are left for the next release, so a
    # re-run of the job sees the same data (withdrawals are always honoured).
    snapshot_at = models.DateTimeField(default=timezone.now)
    # HMAC key of the participant pseudonyms: per release, never exported.
    pseudonym_key = models.CharField(max_length=64, default=new_pseudonym_key, editable=False)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # While the job runs, the process building it stamps this every few seconds from a
    # thread of its own (`aggregation.release.jobs.Heartbeat`), with the database's clock; a
    # running job not heard from for a while has lost its worker and is requeued.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # "<host>:<pid>" of the process building the job (for operators; not in the API).
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Relative to settings.RELEASES_ROOT: "<campaign-slug>/v<N>".
    release_path = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "version"], name="export_job_version_once"),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="export_job_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"export of {self.campaign.slug} v{self.version} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def last_heard_seconds(self) -> float | None:
        """Seconds since the building process last answered, while the job is running."""
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return None
        return max((timezone.now() - self.heartbeat_at).total_seconds(), 0.0)

    @property
    def stopped_answering(self) -> bool:
        """Running, but not heard from for longer than the requeue threshold."""
        heard = self.last_heard_seconds
        return heard is not None and heard > settings.EXPORT_JOB_STALE_SECONDS

    @property
    def last_heard_display(self) -> str:
        """How long ago the building worker last answered: "4 s", "3 min", "2 h"."""
        heard = self.last_heard_seconds
        if heard is None:
            return ""
        if heard < 120:
            return f"{heard:.0f} s"
        if heard < 2 * 3600:
            return f"{heard / 60:.0f} min"
        return f"{heard / 3600:.0f} h"

    @property
    def max_attempts(self) -> int:
        return settings.EXPORT_JOB_MAX_ATTEMPTS

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def option(self, name: str):
        return self.options.get(name, DEFAULT_OPTIONS[name])


class Release(models.Model):
    """A published, immutable release folder: v1, v2, ... per campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="releases")
    job = models.OneToOneField(ExportJob, on_delete=models.PROTECT, related_name="release")
    version = models.PositiveIntegerField()
    path = models.CharField(max_length=300)
    audiences = models.ManyToManyField(Audience, related_name="+")
    # [{"path", "sha256", "rows", "bytes"}] as in manifest.json.
    files = models.JSONField(default=list)
    counts = models.JSONField(default=dict)
    size_bytes = models.BigIntegerField(default=0)
    zip_name = models.CharField(max_length=200)
    zip_bytes = models.BigIntegerField(default=0)
    withdrawn_since_previous = models.PositiveIntegerField(default=0)
    snapshot_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["campaign_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "version"], name="release_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign.slug} v{self.version}"

    @property
    def directory(self):
        return settings.RELEASES_ROOT / self.path

    def file_entry(self, name: str) -> dict | None:
        return next((entry for entry in self.files if entry["path"] == name), None)


class MetricsSnapshot(models.Model):
    """The latest `campaign_metrics` of a campaign, kept for the coverage dashboard.

    Computing every metric reads all of a campaign's judgements (seconds at a
    million), so the periodic alert check stores what it computed here and the
    dashboard reads it instead of computing on every page view. Small campaigns
    are recomputed on view once this is older than a few minutes (see
    `aggregation.dashboard`).
    """

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="metrics_snapshot"
    )
    # `release.pipeline.campaign_metrics` output, unchanged.
    metrics = models.JSONField(default=dict)
    # {audience slug: [{"participant_id", "responses"}]}: the most active participants,
    # counted as the metrics count responses (to name who dominates an audience).
    top_participants = models.JSONField(default=dict)
    # {"until": iso time, "counts": {audience id: {iso day: responses}}}: responses per
    # day of the last 14 days up to "until"; pages add the ones that came in since.
    daily = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)
    seconds = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"metrics of {self.campaign.slug} at {self.computed_at:%Y-%m-%d %H:%M}"


class CoverageAlert(models.Model):
    """A coverage problem found by the periodic check; open until it no longer holds.

    One open alert per (campaign, audience, kind, subject): the check updates it
    while the problem lasts and sets ``resolved_at`` once it is gone. The subject
    names the stratum ("age_band=65+") or the participant ("participant:42").
    """

    class Kind(models.TextChoices):
        UNDER_COVERAGE = "under_coverage", "Under-covered stratum"
        DOMINANCE = "dominance", "Dominant annotator"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="alerts")
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    message = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "audience", "kind", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="coverage_alert_open_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "created_at"],
                condition=Q(resolved_at__isnull=True),
                name="coverage_alert_open",
            ),
        ]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "open"
        return f"{self.get_kind_display()} in {self.campaign.slug}/{self.subject} ({state})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
