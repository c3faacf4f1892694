"""What the conversation datasets share: a part's judged turns as records, the pairs a
turn's judgement implies, and the columns every conversation row starts with.

A turn (`collection.conversation_models.Turn`) holds the history the models saw, the
participant's message, every reply (failed ones too, never shown), the ids shown in
the order shown and the judgement over them. Its prompt is ``history + [user:
message]``, exactly what the endpoints were sent (less each endpoint's own system
prompt, which is the endpoint's setting, not the conversation's).

A conversation is named in a release by ``conversation_id``: the participant's
pseudonym (keyed per release and audience) and the seed item's id, since a
participant has one conversation per seed. A database id would let two releases be
linked, which per-release pseudonyms exist to prevent.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Part

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)


@dataclasses.dataclass(frozen=True)
class TurnRecord:
    item_id: int
    participant_id: int
    index: int
    history: list[dict]
    message: str
    replies: dict[str, dict]  # by reply id
    shown: list[str]
    judgement: dict
    chosen: str
    rationale: str
    edited_text: str

    @property
    def prompt(self) -> list[dict]:
        return [*self.history, {"role": "user", "content": self.message}]

    @property
    def continuation(self) -> str:
        return self.edited_text or self.replies[self.chosen]["text"]


def turn_records(part: Part) -> list[TurnRecord]:
    """The part's turns, in item, participant and turn order."""
    if part.turns is None or part.turns.num_rows == 0:
        return []
    records = []
    for row in part.turns.to_pylist():
        records.append(
            TurnRecord(
                item_id=row["item_id"],
                participant_id=row["participant_id"],
                index=row["index"],
                history=json.loads(row["history"]),
                message=row["message"],
                replies={reply["id"]: reply for reply in json.loads(row["replies"])},
                shown=json.loads(row["shown"]),
                judgement=json.loads(row["judgement"]),
                chosen=row["chosen"],
                rationale=row["rationale"] or "",
                edited_text=row["edited_text"] or "",
            )
        )
    return records


@dataclasses.dataclass(frozen=True)
class TurnPair:
    chosen: str
    rejected: str
    tie: bool
    origin: str  # "choice", "ranking" or "rating", as `tables.PAIR_ORIGINS`


def turn_pairs(turn: TurnRecord) -> list[TurnPair]:
    """The pairs a turn's judgement implies over the replies shown: a choice beats every
    other reply shown; a ranking gives every pair it orders; ratings give a pair per two
    replies, a tie (in the order shown) when they are rated alike."""
    judgement, shown = turn.judgement, turn.shown
    if "choice" in judgement:
        best = judgement["choice"]
        return [TurnPair(best, other, False, "choice") for other in shown if other != best]
    if "ranking" in judgement:
        order = judgement["ranking"]
        return [
            TurnPair(order[i], order[j], False, "ranking")
            for i in range(len(order))
            for j in range(i + 1, len(order))
        ]
    ratings = judgement["ratings"]
    pairs = []
    for i, first in enumerate(shown):
        for second in shown[i + 1 :]:
            if ratings[first] >= ratings[second]:
                pairs.append(TurnPair(first, second, ratings[first] == ratings[second], "rating"))
            else:
                pairs.append(TurnPair(second, first, False, "rating"))
    return pairs


def conversation_ids(part: Part, item_ids: list[int], participant_ids: list[int]) -> pa.Array:
    person = part.people.positions(np.asarray(participant_ids, dtype=np.int64))
    names = part.people.pseudonyms.take(pa.array(person)).to_pylist() if len(person) else []
    return pa.array(
        [f"{name}-{item_id}" for name, item_id in zip(names, item_ids, strict=True)], pa.string()
    )


def row_columns(part: Part, item_ids: list[int], participant_ids: list[int]) -> dict:
    """The columns every file starts with (`tables.common_columns`), then the
    conversation's name in this release."""
    ids = np.asarray(item_ids, dtype=np.int64)
    item_pos = part.items.positions(ids)
    person = part.people.positions(np.asarray(participant_ids, dtype=np.int64))
    columns = tables.common_columns(part.context, part.items, part.people, item_pos, person)
    columns["conversation_id"] = conversation_ids(part, item_ids, participant_ids)
    return columns


def messages(rows: list[list[dict]]) -> pa.Array:
    return pa.array(
        [[{"role": m["role"], "content": m["content"]} for m in row] for row in rows], MESSAGES
    )


def assistant(texts: list[str]) -> pa.Array:
    return messages([[{"role": "assistant", "content": text}] for text in texts])
