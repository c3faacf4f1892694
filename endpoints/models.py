"""Model endpoints researchers register, and the jobs that fill candidates from them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

MAX_SYSTEM_PROMPT_CHARS = 20_000


class ModelEndpoint(models.Model):
    """Anything speaking the OpenAI chat-completions protocol, owned by one researcher.

    The API key is stored only as a Fernet token (`endpoints.crypto`); nothing
    here returns it in clear, and ``__str__``/``__repr__`` never show it.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_endpoints"
    )
    name = models.CharField(
        max_length=100, help_text="Shown to researchers and stored as candidates' source."
    )
    base_url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="The OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1",
    )
    model = models.CharField(max_length=200, help_text="The model id the server expects.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    system_prompt = models.TextField(blank=True, max_length=MAX_SYSTEM_PROMPT_CHARS)
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    top_p = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(200_000)]
    )
    seed = models.BigIntegerField(null=True, blank=True, help_text="Where the server supports it.")
    timeout_seconds = models.FloatField(
        default=60.0, validators=[MinValueValidator(0.1), MaxValueValidator(900.0)]
    )
    max_concurrency = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(256)],
        help_text="Most requests in flight to this endpoint from one worker.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="endpoint_name_once_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    def __repr__(self) -> str:
        return f"<ModelEndpoint {self.pk}: {self.name} ({self.model})>"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    def default_params(self) -> dict:
        params = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        return {name: value for name, value in params.items() if value is not None}


class GenerationJob(models.Model):
    """Fill candidates for a preference campaign's items from registered endpoints.

    ``sources`` lists ``{"endpoint": id, "samples": n, "temperatures": [..] | None}``:
    each endpoint is asked ``samples`` times per item, sample i with seed
    (endpoint seed or 0) + i and, when given, the i-th temperature. ``keep`` is how
    many candidates an item gets; with ``diverse`` the job asks for more and keeps
    the ``keep`` that differ most from each other.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed (nothing generated)"

    campaign = models.ForeignKey(
        "collection.Campaign", on_delete=models.CASCADE, related_name="generation_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sources = models.JSONField()
    keep = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    diverse = models.BooleanField(default=False)
    item_filter = models.JSONField(default=dict, blank=True)
    max_attempts = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(1)])
    chunk_size = models.PositiveIntegerField(default=20, validators=[MinValueValidator(1)])
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    items_total = models.PositiveIntegerField(default=0)
    requests_total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"generation job {self.pk} for {self.campaign.slug}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.FAILED)


class GenerationRequest(models.Model):
    """One call: (job, item, endpoint, sample). The row is the idempotency key.

    A finished request keeps its text; a killed worker's re-run calls only the
    pending ones, and an item's candidates are written once, with the requests
    marked applied in the same transaction.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="requests")
    item = models.ForeignKey("collection.Item", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="+")
    sample = models.PositiveSmallIntegerField()
    chunk = models.PositiveIntegerField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(default=dict)
    text = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    usage = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    applied = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "item", "endpoint", "sample"], name="generation_request_once"
            ),
        ]
        indexes = [
            models.Index(fields=["job", "chunk"], name="generation_request_chunk"),
            models.Index(fields=["job", "status"], name="generation_request_status"),
            models.Index(
                fields=["job", "id"], condition=~Q(error=""), name="generation_request_errors"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}: item {self.item_id}, endpoint {self.endpoint_id}"
