"""Chunks: each item's text once, then its judgements as small rows, the next chunk
fetched while the caller works on this one."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
import pyarrow as pa
from django.db import connection

from aggregation.selectors.packed import _int64s, _packed_ints, _packed_texts, _texts
from aggregation.selectors.selection import ReleaseSelection, _base_params, _json


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
    # A candidate that goes on past its first reply: its messages as JSON (else null).
    candidate_messages: pa.Array
    draft: pa.Array
    question: pa.Array
    reference_answer: pa.Array
    reference_sources: list


# An item's candidates as a JSON array, by default none; the item kind says where its
# candidates are (`aggregation.release.kinds`), as `JudgementRead.candidates`, and
# `items_sql` puts that in for ``{candidates}``.
NO_CANDIDATES = "'[]'::jsonb"
ITEMS_SQL = f"""
WITH i AS (
    SELECT id, external_id, prompt, context, payload FROM collection_item
    WHERE campaign_id = %(campaign)s AND NOT is_attention_check AND excluded_at IS NULL
      AND id BETWEEN %(first)s AND %(last)s
), c AS (
    SELECT i.id, c.position, c.value
    FROM i, jsonb_array_elements({{candidates}}) WITH ORDINALITY AS c(value, position)
)
SELECT * FROM (
    SELECT count(*),
           {_packed_ints("i.id")},
           {_packed_texts("i.external_id")},
           {_packed_texts("i.prompt")},
           {_packed_texts("i.context::text")},
           {_packed_ints("jsonb_array_length({candidates})")},
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
           {_packed_texts("c.value->>'source'")},
           {_packed_texts("(c.value->'messages')::text")}
    FROM c
) AS candidates
"""


def items_sql(candidates: str) -> str:
    """`ITEMS_SQL` reading an item kind's candidates (`JudgementRead.candidates`)."""
    return ITEMS_SQL.replace("{candidates}", candidates)


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
        candidate_messages=_texts(row[16], n_candidates).take(candidates),
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
    "scores": pa.string(),
    "text": pa.string(),
    "sources": pa.string(),
    "rationale": pa.string(),
    "confidence": pa.int64(),
    "rating": pa.int64(),  # a conversation's closing rating
}
# What the columns every kind may fill are read from; the item kind adds its own
# (`JudgementRead.columns`), and a column it does not read reads as nulls.
TEXT_SOURCES = {
    "choice": "r.payload->>'choice'",
    # A number, sent as text: an absent one then costs PostgreSQL next to nothing.
    "confidence": "r.payload->>'confidence'",
    "ranking": "(r.payload->'ranking')::text",
    "ratings": "(r.payload->'ratings')::text",
    "rationale": "r.payload->>'rationale'",
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


@dataclasses.dataclass(frozen=True)
class JudgementRead:
    """What a campaign's item kind reads (`aggregation.release.kinds.ReleaseKind.read`):
    the SQL of its judgement columns (names of `JUDGEMENT_COLUMNS`), where an item's
    candidates are, and whether the judged turns of conversations come too."""

    columns: dict[str, str]
    candidates: str = NO_CANDIDATES
    turns: bool = False


def _judgement_columns(read: JudgementRead) -> dict[str, str]:
    """SQL for each column read from the database, as a bytea aggregate."""
    texts = {
        **read.columns,
        "rationale": TEXT_SOURCES["rationale"],
        "confidence": TEXT_SOURCES["confidence"],
    }
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
    turns: pa.Table | None = None  # conversation campaigns: `TURNS_SQL`'s rows


# The judged turns of the conversations whose closing rating is one of the chunk's
# judgements: the same conditions as `JUDGEMENTS_SQL`, so a conversation's turns are in
# a release exactly when its closing rating is (consented, attentive, not withdrawn,
# closed before the snapshot), and a deleted conversation (withdrawn_at set) is absent.
# Conversations are few beside judgements, so these are plain rows.
TURNS_SQL = """
SELECT c.audience_id, c.item_id, c.participant_id, t.index, t.history::text, t.message,
       t.replies::text, t.shown::text, t.judgement::text, t.chosen, t.rationale,
       t.edited_text
FROM collection_response r
JOIN collection_conversation c ON c.assignment_id = r.assignment_id
JOIN collection_turn t ON t.conversation_id = c.id
WHERE r.campaign_id = %(campaign)s
  AND r.audience_id = ANY(%(audiences)s)
  AND r.item_id BETWEEN %(first)s AND %(last)s
  AND r.withdrawn_at IS NULL
  AND (%(snapshot)s::timestamptz IS NULL OR r.created_at <= %(snapshot)s::timestamptz)
  AND r.participant_id <> ALL(%(excluded)s)
  AND r.item_id <> ALL(%(withheld)s)
  AND c.withdrawn_at IS NULL
ORDER BY c.audience_id, c.item_id, c.participant_id, t.index
"""
TURN_COLUMNS = {
    "audience_id": pa.int64(),
    "item_id": pa.int64(),
    "participant_id": pa.int64(),
    "index": pa.int64(),
    "history": pa.string(),  # JSON, as stored
    "message": pa.string(),
    "replies": pa.string(),  # JSON
    "shown": pa.string(),  # JSON
    "judgement": pa.string(),  # JSON
    "chosen": pa.string(),
    "rationale": pa.string(),
    "edited_text": pa.string(),
}


def _turns(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in TURN_COLUMNS]
    return pa.table(
        {
            name: pa.array(list(values), kind)
            for (name, kind), values in zip(TURN_COLUMNS.items(), columns, strict=True)
        }
    )


def _fetch_chunk(
    raw, items_sql: str, judgements_sql: str, params: dict, *, turns: bool = False
) -> tuple[tuple, list[tuple], list[tuple] | None]:
    """The packed rows of one chunk: its items, then its judgements (a row per audience),
    and with ``turns`` the judged turns of its conversations."""
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(items_sql, params, binary=True)
        items = cursor.fetchone()
        cursor.execute(judgements_sql, params, binary=True)
        judgements = cursor.fetchall()
        if not turns:
            return items, judgements, None
        cursor.execute(TURNS_SQL, params)
        return items, judgements, cursor.fetchall()


def chunks(
    selection: ReleaseSelection,
    *,
    read: JudgementRead,
    item_ids: np.ndarray,
    chunk_items: int,
    excluded: np.ndarray,
) -> Iterator[Chunk]:
    """The campaign's ordinary items ``chunk_items`` at a time, with their judgements
    (``read``: what the campaign's item kind reads).

    The next chunk is fetched in a second thread while the caller works on this
    one, so PostgreSQL and the caller each keep a core busy; the thread only
    waits for the database (decoding happens here, so the two threads do not
    pass the GIL back and forth). It uses the caller's connection (psycopg
    serialises its use), so the reads see the caller's transaction. Results
    come in binary, so the packed columns need no hex step.
    """
    connection.ensure_connection()
    raw = connection.connection
    columns = _judgement_columns(read)
    judgements_sql = JUDGEMENTS_SQL.format(columns=", ".join(columns.values()))
    items_query = items_sql(read.candidates)
    params = _base_params(selection) | {"excluded": [int(value) for value in excluded]}
    starts = list(range(0, len(item_ids), chunk_items))

    def fetch(start: int):
        ids = item_ids[start : start + chunk_items]
        bounds = {"first": int(ids[0]), "last": int(ids[-1])}
        return pool.submit(
            _fetch_chunk, raw, items_query, judgements_sql, params | bounds, turns=read.turns
        )

    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-read") as pool:
        ahead = fetch(starts[0])
        for start, following in zip(starts, [*starts[1:], None], strict=True):
            items, judgements, turn_rows = ahead.result()
            if following is not None:
                ahead = fetch(following)
            ids = item_ids[start : start + chunk_items]
            yield Chunk(
                start,
                _item_chunk(items, ids),
                _judgements(judgements, list(columns), ids),
                None if turn_rows is None else _turns(turn_rows),
            )
