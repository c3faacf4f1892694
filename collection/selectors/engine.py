"""The assignment engine's reads: memberships, the participant's counts, the next free
slot (its query plan beside the SQL), withdrawals."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import connection
from django.db.models import F, Q

from collection.models import (
    Assignment,
    Audience,
    Campaign,
    Item,
    Membership,
    Participant,
    Slot,
    Withdrawal,
)
from collection.models.rows import _columns, _instances
from collection.selectors.slot_counts import SLOT_FREE_SQL


def _memberships_sql(*, with_counts: bool) -> str:
    counts = f", c.* FROM ({COUNTS_SQL}) c CROSS JOIN" if with_counts else " FROM"
    return f"""
SELECT {_columns(Membership, "m")}, {_columns(Audience, "a")},
       EXISTS (SELECT 1 FROM collection_consent k
               WHERE k.participant_id = m.participant_id AND k.campaign_id = %(campaign)s
                 AND k.version = %(version)s) AS consented,
       EXISTS (SELECT 1 FROM collection_withdrawal w
               WHERE w.participant_id = m.participant_id
                 AND (w.campaign_id IS NULL OR w.campaign_id = %(campaign)s)) AS withdrawn
{counts} collection_membership m
JOIN collection_audience a ON a.id = m.audience_id
WHERE m.participant_id = %(participant)s
  AND EXISTS (SELECT 1 FROM collection_campaignaudience t
              WHERE t.audience_id = m.audience_id AND t.campaign_id = %(campaign)s)
ORDER BY m.audience_id
"""


def _membership_rows(participant, campaign, sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "participant": participant.pk,
                "campaign": campaign.pk,
                "version": campaign.consent_version,
            },
        )
        return cursor.fetchall()


def _membership(row) -> Membership:
    membership, audience = _instances(row, Membership, Audience)
    audience_end = len(Membership._meta.concrete_fields) + len(Audience._meta.concrete_fields)
    Membership.audience.field.set_cached_value(membership, audience)
    membership.consented, membership.withdrawn = row[audience_end], row[audience_end + 1]
    return membership


def memberships_for_campaign(*, participant: Participant, campaign: Campaign) -> list[Membership]:
    """The participant's memberships in audiences this campaign targets (with their
    audience loaded), each marked with whether the participant has consented to the
    campaign's current consent text (``consented``) or withdrawn from it (``withdrawn``)."""
    return [_membership(row) for row in _membership_rows(participant, campaign, MEMBERSHIPS_SQL)]


def memberships_and_counts(
    *, participant: Participant, campaign: Campaign
) -> tuple[list[Membership], ParticipantCounts]:
    """``memberships_for_campaign`` and ``participant_campaign_counts`` in one round trip,
    as serving the next item reads both under the participant's lock (counts of zero
    when there is no membership: the participant is refused then anyway)."""
    rows = _membership_rows(participant, campaign, MEMBERSHIPS_AND_COUNTS_SQL)
    counts = ParticipantCounts(*rows[0][-4:]) if rows else ParticipantCounts(0, 0, 0, None)
    return [_membership(row[:-4]) for row in rows], counts


ASSIGNMENT_FOR_UPDATE_SQL = f"""
SELECT {_columns(Assignment, "a")}, {_columns(Item, "i")}, {_columns(Campaign, "c")}
FROM collection_assignment a
JOIN collection_item i ON i.id = a.item_id
JOIN collection_campaign c ON c.id = a.campaign_id
WHERE a.id = %(assignment)s AND a.participant_id = %(participant)s
FOR UPDATE OF a
"""


def assignment_for_update(*, participant: Participant, assignment_id: int) -> Assignment | None:
    """The participant's assignment, row-locked, with its item and campaign loaded (in SQL
    for the reason MEMBERSHIPS_SQL gives: this starts every submission); call inside a
    transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            ASSIGNMENT_FOR_UPDATE_SQL, {"assignment": assignment_id, "participant": participant.pk}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    assignment, item, campaign = _instances(row, Assignment, Item, Campaign)
    Assignment.item.field.set_cached_value(assignment, item)
    Assignment.campaign.field.set_cached_value(assignment, campaign)
    return assignment


@dataclasses.dataclass(frozen=True)
class ParticipantCounts:
    assigned: int
    completed: int
    attention_checks: int
    current_lease: int | None  # the newest unfinished lease, live or expired


# Written out in SQL for the same reason as MEMBERSHIPS_SQL (1.3 ms of ORM per call).
COUNTS_SQL = f"""
SELECT count(*),
       count(*) FILTER (WHERE a.status = '{Assignment.Status.COMPLETED}'),
       count(*) FILTER (WHERE i.is_attention_check),
       max(a.id) FILTER (WHERE a.status = '{Assignment.Status.LEASED}')
FROM collection_assignment a
JOIN collection_item i ON i.id = a.item_id
WHERE a.participant_id = %(participant)s AND a.campaign_id = %(campaign)s
"""


# Runs before every item served and every submission's next item, so it is written out
# in SQL: building it with the ORM (joins, two EXISTS annotations) cost 2.6 ms of Python
# per call against 0.6 ms for sending this text (measured at 1,000 items).
MEMBERSHIPS_SQL = _memberships_sql(with_counts=False)
MEMBERSHIPS_AND_COUNTS_SQL = _memberships_sql(with_counts=True)


def participant_campaign_counts(
    *, participant: Participant, campaign: Campaign
) -> ParticipantCounts:
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL, {"participant": participant.pk, "campaign": campaign.pk})
        assigned, completed, attention_checks, current_lease = cursor.fetchone()
    return ParticipantCounts(assigned, completed, attention_checks, current_lease)


def attention_check_next(*, participant: Participant, campaign: Campaign) -> int | None:
    return (
        campaign.items.filter(
            is_attention_check=True, superseded_at__isnull=True, excluded_at__isnull=True
        )
        .exclude(assignments__participant=participant)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )


# The plan (EXPLAIN on a campaign of 1,000,000 items, k=3): an Index Scan on the
# partial index slot_open_in_order, with the campaign and audience as its leading
# keys and (index, item_id) as its order, so no Sort; LockRows with SKIP LOCKED
# on top and a Nested Loop Anti Join probing assignment_item_once for "not seen
# before". The scan stops at the first row it can lock, so it reads only the
# slots leased by others (at most one per concurrent annotator) and the items
# this participant has already seen at the current depth (at most their cap).
NEXT_FREE_SLOT_SQL = f"""
SELECT s.id, s.campaign_id, s.audience_id, s.item_id, s.index, s.holder_id
FROM collection_slot s
WHERE s.campaign_id = %(campaign)s
  AND s.audience_id = %(audience)s
  AND {SLOT_FREE_SQL}
  AND NOT EXISTS (
      SELECT 1 FROM collection_assignment a
      WHERE a.item_id = s.item_id AND a.participant_id = %(participant)s)
ORDER BY s.index, s.item_id
LIMIT 1
FOR UPDATE OF s SKIP LOCKED
"""


def slot_next_free(
    *, participant: Participant, campaign: Campaign, audience_id: int, now: datetime
) -> Slot | None:
    """Lock and return the first free slot, breadth-first; call inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            NEXT_FREE_SLOT_SQL,
            {
                "campaign": campaign.pk,
                "audience": audience_id,
                "now": now,
                "participant": participant.pk,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Slot(
        id=row[0],
        campaign_id=row[1],
        audience_id=row[2],
        item_id=row[3],
        index=row[4],
        holder_id=row[5],  # an expired lease's, when the slot is taken over
    )


def withdrawal_covering(
    *, participant: Participant, campaign: Campaign | None = None
) -> Withdrawal | None:
    """The participant's withdrawal from the platform, or else from ``campaign``: the one
    that already covers a withdrawal from that scope."""
    scope = Q(campaign__isnull=True)
    if campaign is not None:
        scope |= Q(campaign=campaign)
    return (
        Withdrawal.objects.filter(scope, participant=participant)
        .order_by(F("campaign_id").asc(nulls_first=True))
        .first()
    )
