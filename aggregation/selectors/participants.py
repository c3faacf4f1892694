"""Who is in a release, counted by PostgreSQL: its participants, judgements per item,
withdrawals since the last release, the ordinary items."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pandas as pd
from django.db import connection, transaction

from aggregation.selectors.packed import _int64s, _packed_ints
from aggregation.selectors.selection import ReleaseSelection, _base_params, _fetchall, _json
from collection.models import Campaign

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
    """Whether the release is conversational: an item has a conversation before its
    prompt, or a candidate that is several messages."""
    rows = _fetchall(
        "SELECT EXISTS (SELECT 1 FROM collection_item WHERE campaign_id = %(campaign)s "
        "AND NOT is_attention_check AND (context ? 'messages' "
        "OR payload @? '$.candidates[*].messages'))",
        {"campaign": campaign.pk},
    )
    return bool(rows[0][0])
