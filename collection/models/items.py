"""Items: the prompts (and candidates) a campaign serves, with their versions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from collection import payloads
from collection.models.campaigns import Campaign


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
