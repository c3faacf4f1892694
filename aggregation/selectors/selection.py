"""What a release includes: its audiences, the withheld items, the snapshot and the
attention rule (`ReleaseSelection`), as parameters for the reads."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from django.db import connection

from collection.models import Campaign, CampaignAudience


@dataclasses.dataclass(frozen=True)
class AudienceInfo:
    id: int
    slug: str
    name: str
    kind: str
    description: str
    overlap_k: int
    attribute_schema: list
    target_marginals: dict

    @property
    def attribute_names(self) -> list[str]:
        return [attribute["name"] for attribute in self.attribute_schema]


@dataclasses.dataclass(frozen=True)
class ReleaseSelection:
    """The slice of a campaign a release (or a metrics run) covers."""

    campaign: Campaign
    audiences: tuple[AudienceInfo, ...]
    snapshot_at: datetime | None = None
    exclude_failed_attention: bool = True
    attention_failures_allowed: int = 0

    @property
    def audience_ids(self) -> list[int]:
        return [audience.id for audience in self.audiences]


def selection_audiences(
    *, campaign: Campaign, slugs: list[str] | None = None
) -> list[AudienceInfo]:
    """The campaign's target audiences (all of them, or the named ones), by slug."""
    targets = CampaignAudience.objects.filter(campaign=campaign).select_related("audience")
    if slugs:
        targets = targets.filter(audience__slug__in=slugs)
    return [
        AudienceInfo(
            id=target.audience_id,
            slug=target.audience.slug,
            name=target.audience.name,
            kind=target.audience.kind,
            description=target.audience.description,
            overlap_k=target.overlap_k,
            attribute_schema=target.audience.attribute_schema,
            target_marginals=target.audience.target_marginals,
        )
        for target in sorted(targets, key=lambda target: target.audience.slug)
    ]


def _json(value):
    """Django has psycopg hand jsonb over as text; decode it."""
    return json.loads(value) if isinstance(value, str) else value


def _fetchall(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def withheld_item_ids(*, campaign: Campaign) -> list[int]:
    """Items a researcher excluded from releases (few; a partial index finds them)."""
    return list(
        campaign.items.filter(excluded_at__isnull=False).order_by("id").values_list("id", flat=True)
    )


def _base_params(selection: ReleaseSelection) -> dict:
    return {
        "campaign": selection.campaign.pk,
        "audiences": selection.audience_ids,
        "snapshot": selection.snapshot_at,
        "withheld": withheld_item_ids(campaign=selection.campaign),
    }


def withheld_counts(selection: ReleaseSelection) -> dict[str, int]:
    """What the researchers took out of the selection, for the card: items they excluded
    and demonstrations a reviewer rejected (live, in its audiences, up to the snapshot)."""
    rows = _fetchall(
        """
        SELECT count(*) FROM collection_response r
        WHERE r.campaign_id = %(campaign)s
          AND r.audience_id = ANY(%(audiences)s)
          AND r.withdrawn_at IS NULL
          AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
          AND r.item_id <> ALL(%(withheld)s)
          AND r.review = 'rejected'
        """,
        _base_params(selection),
    )
    return {
        "excluded_items": len(withheld_item_ids(campaign=selection.campaign)),
        "rejected_demonstrations": int(rows[0][0]),
    }


def abandoned_conversations(selection: ReleaseSelection) -> dict[str, int]:
    """Conversations in the selection's audiences that ended without their closing
    rating (skipped, or left until their place went to someone else) by the snapshot,
    per audience slug: in no file of the release (only closed conversations are), and
    counted on its card. Deleted ones are nobody's to count."""
    rows = _fetchall(
        """
        SELECT a.slug, count(c.id)
        FROM collection_audience a
        LEFT JOIN collection_conversation c
          ON c.audience_id = a.id
         AND c.campaign_id = %(campaign)s
         AND c.status = 'abandoned'
         AND c.deleted_at IS NULL
         AND (%(snapshot)s::timestamptz IS NULL OR c.closed_at <= %(snapshot)s::timestamptz)
        WHERE a.id = ANY(%(audiences)s)
        GROUP BY a.slug
        ORDER BY a.slug
        """,
        {
            "campaign": selection.campaign.pk,
            "audiences": selection.audience_ids,
            "snapshot": selection.snapshot_at,
        },
    )
    return {slug: int(count) for slug, count in rows}
