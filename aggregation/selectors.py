"""Reads behind releases and metrics: who may see what, and the exportable data.

What a release (and the metrics) include is decided here, in one place:
responses of the campaign's ordinary items (attention checks are left out),
submitted up to the snapshot, not withdrawn, from participants who consented
to the campaign and (by default) passed its attention checks.

Judgements are read in item-id chunks: each chunk's item text once, then the
chunk's judgements as small rows through ``COPY ... TO STDOUT`` parsed by
Arrow's CSV reader, so memory stays flat however many judgements there are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
from django.db import connection
from django.db.models import QuerySet

from aggregation.models import ExportJob, Release
from collection.models import Campaign, CampaignAudience


def campaigns_for_researcher(*, user) -> QuerySet[Campaign]:
    """Campaigns a user may export: the ones they own, or all of them for staff."""
    if not user.is_authenticated:
        return Campaign.objects.none()
    if user.is_staff:
        return Campaign.objects.all()
    return Campaign.objects.filter(owners=user)


def campaign_for_researcher(*, user, slug: str) -> Campaign | None:
    return campaigns_for_researcher(user=user).filter(slug=slug).first()


def export_job_for_researcher(*, user, job_id: int) -> ExportJob | None:
    campaigns = campaigns_for_researcher(user=user)
    return (
        ExportJob.objects.filter(pk=job_id, campaign__in=campaigns)
        .select_related("campaign", "release")
        .first()
    )


def export_jobs_for_campaign(*, campaign: Campaign) -> QuerySet[ExportJob]:
    return (
        ExportJob.objects.filter(campaign=campaign)
        .select_related("release")
        .prefetch_related("audiences")
    )


def releases_for_campaign(*, campaign: Campaign) -> QuerySet[Release]:
    return Release.objects.filter(campaign=campaign).order_by("-version")


def release_for_campaign(*, campaign: Campaign, version: int) -> Release | None:
    return Release.objects.filter(campaign=campaign, version=version).first()


# What is exported ----------------------------------------------------------------


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
class Scope:
    """The slice of a campaign a release (or a metrics run) covers."""

    campaign: Campaign
    audiences: tuple[AudienceInfo, ...]
    snapshot_at: datetime | None = None
    exclude_failed_attention: bool = True
    attention_failures_allowed: int = 0

    @property
    def audience_ids(self) -> list[int]:
        return [audience.id for audience in self.audiences]


def scope_audiences(*, campaign: Campaign, slugs: list[str] | None = None) -> list[AudienceInfo]:
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


def _base_params(scope: Scope) -> dict:
    return {
        "campaign": scope.campaign.pk,
        "audiences": scope.audience_ids,
        "snapshot": scope.snapshot_at,
    }


LIVE_RESPONSES = """
    r.campaign_id = %(campaign)s
    AND r.audience_id = ANY(%(audiences)s)
    AND r.withdrawn_at IS NULL
    AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
"""


@dataclasses.dataclass
class Participants:
    """Participants with live responses in scope, one row per (participant, audience)."""

    frame: pd.DataFrame  # participant_id, audience_id, responses, attributes (dict)
    excluded_ids: np.ndarray  # unconsented or failed attention checks
    unconsented: int
    failed_attention: int


def participants_in_scope(scope: Scope) -> Participants:
    params = _base_params(scope)
    rows = _fetchall(
        f"""
        WITH counts AS (
            SELECT r.participant_id, r.audience_id, count(*) AS responses,
                   count(*) FILTER (WHERE r.attention_passed IS FALSE) AS failures
            FROM collection_response r
            WHERE {LIVE_RESPONSES}
            GROUP BY r.participant_id, r.audience_id
        )
        SELECT c.participant_id, c.audience_id, c.responses, c.failures,
               EXISTS (SELECT 1 FROM collection_consent k
                       WHERE k.participant_id = c.participant_id
                         AND k.campaign_id = %(campaign)s) AS consented,
               m.attributes
        FROM counts c
        LEFT JOIN collection_membership m
          ON m.participant_id = c.participant_id AND m.audience_id = c.audience_id
        ORDER BY c.participant_id, c.audience_id
        """,
        params,
    )
    frame = pd.DataFrame(
        rows,
        columns=["participant_id", "audience_id", "responses", "failures", "consented", "attrs"],
    )
    per_person = frame.groupby("participant_id").agg(
        failures=("failures", "sum"), consented=("consented", "all")
    )
    unconsented = per_person.index[~per_person["consented"]]
    failed = per_person.index[per_person["failures"] > scope.attention_failures_allowed]
    if not scope.exclude_failed_attention:
        failed = failed[:0]
    excluded = np.union1d(unconsented.to_numpy(), failed.to_numpy()).astype(np.int64)
    frame["attrs"] = [_json(value) for value in frame["attrs"]]
    kept = frame[~frame["participant_id"].isin(excluded)].reset_index(drop=True)
    return Participants(
        frame=kept.drop(columns=["failures", "consented"]).rename(columns={"attrs": "attributes"}),
        excluded_ids=excluded,
        unconsented=len(unconsented),
        failed_attention=len(failed.difference(unconsented)),
    )


def withdrawn_participants(*, campaign: Campaign, since: datetime | None) -> int:
    """Participants whose responses to the campaign were withdrawn after ``since``."""
    rows = _fetchall(
        """
        SELECT count(DISTINCT participant_id) FROM collection_response
        WHERE campaign_id = %(campaign)s AND withdrawn_at IS NOT NULL
          AND (%(since)s::timestamptz IS NULL OR withdrawn_at > %(since)s::timestamptz)
        """,
        {"campaign": campaign.pk, "since": since},
    )
    return int(rows[0][0])


def response_totals(scope: Scope, excluded: np.ndarray) -> dict:
    """Live judgements in scope, and the first and last submission time."""
    rows = _fetchall(
        f"""
        SELECT count(*), min(r.created_at), max(r.created_at)
        FROM collection_response r
        JOIN collection_item i ON i.id = r.item_id AND NOT i.is_attention_check
        WHERE {LIVE_RESPONSES} AND r.participant_id <> ALL(%(excluded)s)
        """,
        _base_params(scope) | {"excluded": [int(value) for value in excluded]},
    )
    count, first, last = rows[0]
    return {"responses": int(count), "first": first, "last": last}


def ordinary_item_ids(*, campaign: Campaign) -> np.ndarray:
    rows = _fetchall(
        "SELECT id FROM collection_item WHERE campaign_id = %(campaign)s "
        "AND NOT is_attention_check ORDER BY id",
        {"campaign": campaign.pk},
    )
    return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))


def campaign_has_messages(*, campaign: Campaign) -> bool:
    rows = _fetchall(
        "SELECT EXISTS (SELECT 1 FROM collection_item WHERE campaign_id = %(campaign)s "
        "AND NOT is_attention_check AND context ? 'messages')",
        {"campaign": campaign.pk},
    )
    return bool(rows[0][0])


# Chunks: each item's text once, then its judgements as small rows ----------------------


@dataclasses.dataclass
class ItemChunk:
    """Ordinary items with consecutive ids, in id order."""

    ids: np.ndarray
    external_ids: list[str | None]
    prompts: list[str]
    contexts: list[dict | None]
    payloads: list[dict]


JUDGEMENT_COLUMNS = {
    "response_id": pa.int64(),
    "item_id": pa.int64(),
    "participant_id": pa.int64(),
    "audience_id": pa.int64(),
    "choice": pa.string(),
    "ranking": pa.string(),
    "ratings": pa.string(),
    "text": pa.string(),
    "sources": pa.string(),
    "rationale": pa.string(),
    "confidence": pa.int64(),
}
# One row per chunk, one array per column: the rows cross the wire as a few arrays
# rather than one protocol message each, which is what makes reading them cheap.
JUDGEMENTS_SQL = """
SELECT array_agg(r.id), array_agg(r.item_id), array_agg(r.participant_id),
       array_agg(r.audience_id), array_agg(r.payload->>'choice'),
       array_agg((r.payload->'ranking')::text), array_agg((r.payload->'ratings')::text),
       array_agg({text}), array_agg(({sources})::text), array_agg(r.payload->>'rationale'),
       array_agg((r.payload->>'confidence')::bigint)
FROM collection_response r
WHERE r.campaign_id = %(campaign)s
  AND r.audience_id = ANY(%(audiences)s)
  AND r.item_id BETWEEN %(first)s AND %(last)s
  AND r.withdrawn_at IS NULL
  AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
  AND r.participant_id <> ALL(%(excluded)s)
"""
TEXT_COLUMNS = {
    Campaign.ItemKind.PREFERENCE: ("NULL::text", "NULL::jsonb"),
    Campaign.ItemKind.DEMONSTRATION: ("r.payload->>'text'", "NULL::jsonb"),
    Campaign.ItemKind.QA: ("r.payload->>'answer'", "r.payload->'sources'"),
}


def item_chunks(
    *, campaign: Campaign, item_ids: np.ndarray, chunk_items: int, with_text: bool = True
) -> Iterator[ItemChunk]:
    """The campaign's ordinary items, ``chunk_items`` at a time (text only if asked)."""
    columns = "id, external_id, prompt, context, payload" if with_text else "id, external_id"
    for start in range(0, len(item_ids), chunk_items):
        ids = item_ids[start : start + chunk_items]
        rows = _fetchall(
            f"SELECT {columns} FROM collection_item WHERE campaign_id = %(campaign)s "
            "AND NOT is_attention_check AND id BETWEEN %(first)s AND %(last)s ORDER BY id",
            {"campaign": campaign.pk, "first": int(ids[0]), "last": int(ids[-1])},
        )
        yield ItemChunk(
            ids=ids,
            external_ids=[row[1] for row in rows],
            prompts=[row[2] for row in rows] if with_text else [],
            contexts=[_json(row[3]) for row in rows] if with_text else [],
            payloads=[_json(row[4]) for row in rows] if with_text else [],
        )


def judgements_for_chunk(scope: Scope, chunk: ItemChunk, excluded: np.ndarray) -> pa.Table:
    """The chunk's live judgements, ordered by audience, item and response id."""
    text, sources = TEXT_COLUMNS[scope.campaign.item_kind]
    params = _base_params(scope) | {
        "first": int(chunk.ids[0]),
        "last": int(chunk.ids[-1]),
        "excluded": [int(value) for value in excluded],
    }
    row = _fetchall(JUDGEMENTS_SQL.format(text=text, sources=sources), params)[0]
    if row[0] is None:
        return pa.table({name: pa.array([], type=kind) for name, kind in JUDGEMENT_COLUMNS.items()})
    table = pa.table(
        {
            name: pa.array(values, type=kind)
            for (name, kind), values in zip(JUDGEMENT_COLUMNS.items(), row, strict=True)
        }
    )
    order = np.lexsort(
        (
            table.column("response_id").to_numpy(),
            table.column("item_id").to_numpy(),
            table.column("audience_id").to_numpy(),
        )
    )
    # Responses to attention checks whose ids fall inside the chunk's range.
    keep = np.isin(table.column("item_id").to_numpy()[order], chunk.ids)
    return table.take(pa.array(order[keep]))
