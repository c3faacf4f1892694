"""Reads behind releases and metrics: the exportable data, and the campaigns a user
may export (by `collection.permissions.campaigns_managed_by`, the one rule).

What a release (and the metrics) include is decided here, in one place:
responses of the campaign's ordinary items (attention checks are left out),
submitted up to the snapshot, not withdrawn, from participants who consented
to the campaign and (by default) passed its attention checks.

Judgements are read in item-id chunks: each chunk's item text once, then the
chunk's judgements as small rows (ids and short codes), each column packed by
PostgreSQL into one bytea that numpy and Arrow read without a Python object
per value; the next chunk is fetched while the caller works on this one. So
memory stays flat however many judgements there are. Coverage alone is
counted by PostgreSQL (`participants_in_selection`, `judgements_per_item`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from django.db import connection, transaction
from django.db.models import QuerySet

from aggregation.models import ExportJob, Release
from collection.models import Campaign, CampaignAudience
from collection.permissions import campaigns_managed_by


def campaign_for_researcher(*, user, slug: str) -> Campaign | None:
    return campaigns_managed_by(user).filter(slug=slug).first()


def export_job_for_researcher(*, user, job_id: int) -> ExportJob | None:
    return (
        ExportJob.objects.filter(pk=job_id, campaign__in=campaigns_managed_by(user))
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


# The bulk reads below send each column of a chunk as one bytea: int64s back to back
# (int8send), or texts separated by a NUL byte, which PostgreSQL text cannot hold, each
# text as 0x01 + its UTF-8 bytes and NULL as nothing. A chunk crosses the wire as a few
# byte strings that numpy and Arrow read without a Python object per value, which is
# what makes reading a million judgements cheap.


def _packed_ints(expression: str, order: str = "") -> str:
    return f"string_agg(int8send({expression}), ''::bytea{order})"


def _packed_texts(expression: str, order: str = "") -> str:
    return (
        f"string_agg(COALESCE('\\x01'::bytea || convert_to({expression}, 'UTF8'), ''::bytea), "
        f"'\\x00'::bytea{order})"
    )


def _int64s(data: bytes | None, n: int) -> np.ndarray:
    if data is None:
        return np.zeros(0, dtype=np.int64)
    values = np.frombuffer(data, dtype=">i8").astype(np.int64)
    if len(values) != n:
        raise ValueError(f"read {len(values)} numbers for {n} rows")
    return values


def _texts(data: bytes | None, n: int) -> pa.Array:
    """Texts packed by `_packed_texts`, as an Arrow string array built straight from the
    bytes: the separators and marker bytes are dropped with one numpy mask, and the
    offsets and validity come from where the separators are."""
    if data is None:
        return pa.nulls(n, pa.string())
    raw = np.frombuffer(data, dtype=np.uint8)
    separators = np.flatnonzero(raw == 0)  # UTF-8 text never holds a zero byte
    if len(separators) != n - 1:
        raise ValueError(f"read {len(separators) + 1} texts for {n} rows")
    starts = np.empty(n, dtype=np.int64)
    starts[0], starts[1:] = 0, separators + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1], ends[-1] = separators, len(raw)
    present = ends > starts  # a text has its marker byte; NULL is empty
    keep = np.ones(len(raw), dtype=bool)
    keep[separators] = False
    keep[starts[present]] = False
    values = raw[keep]
    if len(values) >= 2**31:
        raise ValueError("a chunk's texts exceed 2 GB; lower batch_rows")
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.where(present, ends - starts - 1, 0), out=offsets[1:])
    nulls = n - int(np.count_nonzero(present))
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
    texts = pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(values), validity, nulls
    )
    texts.validate(full=True)  # checks the UTF-8 too
    return texts


LIVE_RESPONSES = """
    r.campaign_id = %(campaign)s
    AND r.audience_id = ANY(%(audiences)s)
    AND r.withdrawn_at IS NULL
    AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
    AND r.item_id <> ALL(%(withheld)s)
    AND r.review <> 'rejected'
"""


@dataclasses.dataclass
class Participants:
    """Participants with live responses in the selection, one row per (participant, audience)."""

    # participant_id, audience_id, responses (all live ones), judgements (of ordinary
    # items), attributes (dict), joined_via (`JOINED_VIA`)
    frame: pd.DataFrame
    excluded_ids: np.ndarray  # unconsented or failed attention checks
    unconsented: int
    failed_attention: int
    # The kept participants' judgements: how many, the first and last submission time.
    judgements: int = 0
    first: datetime | None = None
    last: datetime | None = None


# How a member came in (`collection.models.JoinedVia`): as recorded at the join, else
# what the membership shows: a screened public audience is joined by screening, any
# other by invitation when one was used, else by open sign-up.
JOINED_VIA = """CASE
    WHEN m.joined_via <> '' THEN m.joined_via
    WHEN a.kind = 'public' AND a.screened THEN 'screened'
    WHEN m.invitation_id IS NOT NULL THEN 'invited'
    ELSE 'open' END"""
# Responses to ordinary items: a response to an attention check carries its verdict in
# attention_passed (collection.models.Response), so no join with the items is needed.
ORDINARY = "r.attention_passed IS NULL"
PARTICIPANTS_SQL = f"""
WITH counts AS (
    SELECT r.participant_id, r.audience_id, count(*) AS responses,
           count(*) FILTER (WHERE {ORDINARY}) AS judgements,
           count(*) FILTER (WHERE r.attention_passed IS FALSE) AS failures
    FROM collection_response r
    WHERE {LIVE_RESPONSES}
    GROUP BY r.participant_id, r.audience_id
)
SELECT c.participant_id, c.audience_id, c.responses, c.judgements, c.failures,
       EXISTS (SELECT 1 FROM collection_consent k
               WHERE k.participant_id = c.participant_id
                 AND k.campaign_id = %(campaign)s) AS consented,
       m.attributes, {JOINED_VIA} AS joined_via
FROM counts c
LEFT JOIN collection_membership m
  ON m.participant_id = c.participant_id AND m.audience_id = c.audience_id
LEFT JOIN collection_audience a ON a.id = c.audience_id
ORDER BY c.participant_id, c.audience_id
"""
PER_ITEM_SQL = f"""
SELECT audience_id, {_packed_ints("item_id")}, {_packed_ints("n")}
FROM (
    SELECT r.audience_id, r.item_id, count(*) AS n
    FROM collection_response r
    WHERE {LIVE_RESPONSES} AND {ORDINARY} AND r.participant_id <> ALL(%(excluded)s)
    GROUP BY r.audience_id, r.item_id
) AS per_item
GROUP BY audience_id
"""


def _analytic_rows(sql: str, params: dict) -> list[tuple]:
    """Rows of an aggregate over all of a campaign's responses, tuned for it: with the
    default 4 MB of work_mem PostgreSQL may sort a million rows through the disk instead
    of hashing them (seconds instead of a fraction of one), and compiling the query
    (JIT) costs more than it saves."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


def participants_in_selection(selection: ReleaseSelection) -> Participants:
    """Who is in the selection, and who is left out (unconsented, failed attention checks)."""
    rows = _analytic_rows(PARTICIPANTS_SQL, _base_params(selection))
    frame = pd.DataFrame(
        rows,
        columns=[
            "participant_id",
            "audience_id",
            "responses",
            "judgements",
            "failures",
            "consented",
            "attrs",
            "joined_via",
        ],
    )
    per_person = frame.groupby("participant_id").agg(
        failures=("failures", "sum"), consented=("consented", "all")
    )
    unconsented = per_person.index[~per_person["consented"]]
    failed = per_person.index[per_person["failures"] > selection.attention_failures_allowed]
    if not selection.exclude_failed_attention:
        failed = failed[:0]
    excluded = np.union1d(unconsented.to_numpy(), failed.to_numpy()).astype(np.int64)
    frame["attrs"] = [_json(value) for value in frame["attrs"]]
    kept = frame[~frame["participant_id"].isin(excluded)].reset_index(drop=True)
    # First and last judgement: read from the campaign's time index, from each end.
    (first, last), *_ = _fetchall(
        f"SELECT min(r.created_at), max(r.created_at) FROM collection_response r "
        f"WHERE {LIVE_RESPONSES} AND {ORDINARY} AND r.participant_id <> ALL(%(excluded)s)",
        _base_params(selection) | {"excluded": [int(value) for value in excluded]},
    )
    return Participants(
        frame=kept.drop(columns=["failures", "consented"]).rename(columns={"attrs": "attributes"}),
        excluded_ids=excluded,
        unconsented=len(unconsented),
        failed_attention=len(failed.difference(unconsented)),
        judgements=int(kept["judgements"].sum()),
        first=first,
        last=last,
    )


def judgements_per_item(selection: ReleaseSelection, excluded: np.ndarray) -> dict[int, tuple]:
    """Per audience id: (item ids, live judgements of each by the kept participants),
    counted by PostgreSQL without reading a judgement into Python."""
    params = _base_params(selection) | {"excluded": [int(value) for value in excluded]}
    return {
        audience_id: tuple(np.frombuffer(data, dtype=">i8").astype(np.int64) for data in packed)
        for audience_id, *packed in _analytic_rows(PER_ITEM_SQL, params)
    }


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


def ordinary_item_ids(*, campaign: Campaign) -> np.ndarray:
    rows = _fetchall(
        f"SELECT count(*), {_packed_ints('id', ' ORDER BY id')} FROM collection_item "
        "WHERE campaign_id = %(campaign)s AND NOT is_attention_check AND excluded_at IS NULL",
        {"campaign": campaign.pk},
    )
    return _int64s(rows[0][1], rows[0][0]) if rows[0][0] else np.zeros(0, dtype=np.int64)


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
    """Ordinary items with consecutive ids, in id order, their text as Arrow arrays.

    Candidates are flattened: item i owns ``candidate_counts[i]`` consecutive
    entries of the ``candidate_*`` arrays, in listed order.
    """

    ids: np.ndarray
    external_id: pa.Array
    prompt: pa.Array
    contexts: list[dict | None]
    candidate_counts: np.ndarray
    candidate_id: pa.Array
    candidate_text: pa.Array
    candidate_source: pa.Array
    draft: pa.Array
    question: pa.Array
    reference_answer: pa.Array
    reference_sources: list


CANDIDATES = (
    "CASE jsonb_typeof(i.payload->'candidates') WHEN 'array' THEN i.payload->'candidates' "
    "ELSE '[]'::jsonb END"
)
ITEMS_SQL = f"""
WITH i AS (
    SELECT id, external_id, prompt, context, payload FROM collection_item
    WHERE campaign_id = %(campaign)s AND NOT is_attention_check AND excluded_at IS NULL
      AND id BETWEEN %(first)s AND %(last)s
), c AS (
    SELECT i.id, c.position, c.value
    FROM i, jsonb_array_elements({CANDIDATES}) WITH ORDINALITY AS c(value, position)
)
SELECT * FROM (
    SELECT count(*),
           {_packed_ints("i.id")},
           {_packed_texts("i.external_id")},
           {_packed_texts("i.prompt")},
           {_packed_texts("i.context::text")},
           {_packed_ints(f"jsonb_array_length({CANDIDATES})")},
           {_packed_texts("i.payload->>'draft'")},
           {_packed_texts("i.payload->>'question'")},
           {_packed_texts("i.payload->>'reference_answer'")},
           {_packed_texts("(i.payload->'sources')::text")}
    FROM i
) AS items, (
    SELECT count(*),
           {_packed_ints("c.id")},
           {_packed_ints("c.position")},
           {_packed_texts("c.value->>'id'")},
           {_packed_texts("c.value->>'text'")},
           {_packed_texts("c.value->>'source'")}
    FROM c
) AS candidates
"""


def _item_chunk(row: tuple, ids: np.ndarray) -> ItemChunk:
    """An `ItemChunk` from a row of `ITEMS_SQL`. The aggregates come in no set order:
    items are put in id order, candidates in (item id, listed) order."""
    n, n_candidates = int(row[0]), int(row[10])
    item_ids = _int64s(row[1], n)
    order = np.argsort(item_ids, kind="stable")
    if n != len(ids) or not np.array_equal(item_ids[order], ids):
        raise RuntimeError("the campaign's items changed while its release was read")
    take = pa.array(order)

    def texts(data) -> pa.Array:
        return _texts(data, n).take(take)

    placed = np.lexsort((_int64s(row[12], n_candidates), _int64s(row[11], n_candidates)))
    candidates = pa.array(placed)
    reference_sources = texts(row[9]).to_pylist()
    return ItemChunk(
        ids=ids,
        external_id=texts(row[2]),
        prompt=texts(row[3]),
        contexts=_contexts(texts(row[4])),
        candidate_counts=_int64s(row[5], n)[order],
        candidate_id=_texts(row[13], n_candidates).take(candidates),
        candidate_text=_texts(row[14], n_candidates).take(candidates),
        candidate_source=_texts(row[15], n_candidates).take(candidates),
        draft=texts(row[6]),
        question=texts(row[7]),
        reference_answer=texts(row[8]),
        reference_sources=[
            [] if value is None else json.loads(value) for value in reference_sources
        ],
    )


def _contexts(texts: pa.Array) -> list[dict | None]:
    if texts.null_count == len(texts):  # most campaigns: no item has a context
        return [None] * len(texts)
    return [_json(value) for value in texts.to_pylist()]


JUDGEMENT_COLUMNS = {
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
# What each column is read from, by item kind; a column a kind does not use reads as nulls.
TEXT_SOURCES = {
    "choice": "r.payload->>'choice'",
    # A number, sent as text: an absent one then costs PostgreSQL next to nothing.
    "confidence": "r.payload->>'confidence'",
    "ranking": "(r.payload->'ranking')::text",
    "ratings": "(r.payload->'ratings')::text",
    "rationale": "r.payload->>'rationale'",
}
KIND_COLUMNS = {
    Campaign.ItemKind.PREFERENCE: {"ratings": TEXT_SOURCES["ratings"]},
    Campaign.ItemKind.DEMONSTRATION: {"text": "r.payload->>'text'"},
    Campaign.ItemKind.QA: {
        "text": "r.payload->>'answer'",
        "sources": "(r.payload->'sources')::text",
    },
}
JUDGEMENTS_SQL = """
SELECT r.audience_id, count(*), {columns}
FROM collection_response r
WHERE r.campaign_id = %(campaign)s
  AND r.audience_id = ANY(%(audiences)s)
  AND r.item_id BETWEEN %(first)s AND %(last)s
  AND r.withdrawn_at IS NULL
  AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
  AND r.participant_id <> ALL(%(excluded)s)
  AND r.item_id <> ALL(%(withheld)s)
  AND r.review <> 'rejected'
GROUP BY r.audience_id
"""
INT_SOURCES = {
    "item_id": "r.item_id",
    "participant_id": "r.participant_id",
}


def _judgement_columns(campaign: Campaign) -> dict[str, str]:
    """SQL for each column read from the database, as a bytea aggregate."""
    texts = dict(KIND_COLUMNS[campaign.item_kind])
    if not campaign.rating_scale:  # the campaign takes no ratings (payloads.validate_response)
        texts.pop("ratings", None)
    if campaign.item_kind == Campaign.ItemKind.PREFERENCE:
        name = "ranking" if campaign.preference_format == "ranking" else "choice"
        texts[name] = TEXT_SOURCES[name]
    texts["rationale"] = TEXT_SOURCES["rationale"]
    texts["confidence"] = TEXT_SOURCES["confidence"]
    columns = {}
    for name in JUDGEMENT_COLUMNS:
        if name in INT_SOURCES:
            columns[name] = _packed_ints(INT_SOURCES[name])
        elif name in texts:
            columns[name] = _packed_texts(texts[name])
    return columns


def _judgements(rows: list[tuple], columns: list[str], ids: np.ndarray) -> pa.Table:
    """The judgements of `JUDGEMENTS_SQL`'s rows (one per audience), ordered by audience,
    item and participant, who judges an item once (the aggregates come in no set order)."""
    rows = [row for row in rows if row[1]]
    counts = [int(row[1]) for row in rows]
    n = sum(counts)
    if not n:
        return pa.table({name: pa.array([], type=kind) for name, kind in JUDGEMENT_COLUMNS.items()})
    values = [dict(zip(columns, row[2:], strict=True)) for row in rows]
    arrays = {"audience_id": pa.array(np.repeat([int(row[0]) for row in rows], counts))}
    for name, kind in JUDGEMENT_COLUMNS.items():
        if name in arrays:
            continue
        if name not in columns:
            arrays[name] = pa.nulls(n, kind)
        elif name in INT_SOURCES:
            arrays[name] = pa.array(
                np.concatenate(
                    [_int64s(part[name], k) for part, k in zip(values, counts, strict=True)]
                )
            )
        else:
            arrays[name] = pa.concat_arrays(
                [_texts(part[name], k) for part, k in zip(values, counts, strict=True)]
            ).cast(kind)
    table = pa.table({name: arrays[name] for name in JUDGEMENT_COLUMNS})
    order = np.lexsort(
        (
            table.column("participant_id").to_numpy(),
            table.column("item_id").to_numpy(),
            table.column("audience_id").to_numpy(),
        )
    )
    # Responses to attention checks whose ids fall inside the chunk's range.
    keep = np.isin(table.column("item_id").to_numpy()[order], ids)
    return table.take(pa.array(order[keep]))


@dataclasses.dataclass
class Chunk:
    """Consecutive ordinary items, read once, and their live judgements."""

    start: int  # the first item's position among the campaign's ordinary items
    items: ItemChunk
    judgements: pa.Table


def _fetch_chunk(raw, judgements_sql: str, params: dict) -> tuple[tuple, list[tuple]]:
    """The packed rows of one chunk: its items, then its judgements (a row per audience)."""
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(ITEMS_SQL, params, binary=True)
        items = cursor.fetchone()
        cursor.execute(judgements_sql, params, binary=True)
        return items, cursor.fetchall()


def chunks(
    selection: ReleaseSelection, *, item_ids: np.ndarray, chunk_items: int, excluded: np.ndarray
) -> Iterator[Chunk]:
    """The campaign's ordinary items ``chunk_items`` at a time, with their judgements.

    The next chunk is fetched in a second thread while the caller works on this
    one, so PostgreSQL and the caller each keep a core busy; the thread only
    waits for the database (decoding happens here, so the two threads do not
    pass the GIL back and forth). It uses the caller's connection (psycopg
    serialises its use), so the reads see the caller's transaction. Results
    come in binary, so the packed columns need no hex step.
    """
    connection.ensure_connection()
    raw = connection.connection
    columns = _judgement_columns(selection.campaign)
    judgements_sql = JUDGEMENTS_SQL.format(columns=", ".join(columns.values()))
    params = _base_params(selection) | {"excluded": [int(value) for value in excluded]}
    starts = list(range(0, len(item_ids), chunk_items))

    def fetch(start: int):
        ids = item_ids[start : start + chunk_items]
        bounds = {"first": int(ids[0]), "last": int(ids[-1])}
        return pool.submit(_fetch_chunk, raw, judgements_sql, params | bounds)

    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-read") as pool:
        ahead = fetch(starts[0])
        for start, following in zip(starts, [*starts[1:], None], strict=True):
            items, judgements = ahead.result()
            if following is not None:
                ahead = fetch(following)
            ids = item_ids[start : start + chunk_items]
            yield Chunk(start, _item_chunk(items, ids), _judgements(judgements, list(columns), ids))
