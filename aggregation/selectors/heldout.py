"""The context sets of a release's held-out participants: each one's first m judgements
by submission time (``created_at``, then id for judgements stored in the same instant),
counted over the judgements the release holds (`participants.LIVE_RESPONSES`, ordinary
items, people not excluded). A release reads judgements in item order, so which ones
came first is asked of PostgreSQL before the pass: m rows per held-out person, however
many judgements they gave."""

from __future__ import annotations

import numpy as np

from aggregation.selectors.participants import LIVE_RESPONSES, ORDINARY
from aggregation.selectors.selection import ReleaseSelection, _base_params, _fetchall

CONTEXT_SQL = f"""
SELECT participant_id, item_id FROM (
    SELECT r.participant_id, r.item_id,
           row_number() OVER (PARTITION BY r.participant_id ORDER BY r.created_at, r.id) AS n
    FROM collection_response r
    WHERE {LIVE_RESPONSES} AND {ORDINARY}
      AND r.participant_id = ANY(%(people)s)
) AS ranked
WHERE n <= %(m)s
"""


def judgement_keys(participant_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """One int64 per (participant, item): a participant judges an item once per audience."""
    return (np.asarray(participant_ids, np.int64) << np.int64(32)) | np.asarray(item_ids, np.int64)


def heldout_context_keys(
    selection: ReleaseSelection, *, audience_id: int, participant_ids: np.ndarray, m: int
) -> np.ndarray:
    """The sorted `judgement_keys` of the first ``m`` judgements of each of
    ``participant_ids`` in the audience."""
    if not len(participant_ids):
        return np.zeros(0, np.int64)
    params = _base_params(selection) | {
        "audiences": [audience_id],
        "people": [int(value) for value in participant_ids],
        "m": m,
    }
    rows = np.asarray(_fetchall(CONTEXT_SQL, params), dtype=np.int64).reshape(-1, 2)
    return np.sort(judgement_keys(rows[:, 0], rows[:, 1]))
