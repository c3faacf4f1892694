"""Conversation-level ratings: one row per conversation, the whole conversation as it
went on (each message with the reply that continued it) and its closing rating on the
campaign's scale, also as KTO's ``label`` (above the scale's midpoint: desirable;
at it: left unlabelled)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release.datasets import turns as conversation_turns
from aggregation.release.datasets.base import Dataset, Part


def _build(part: Part) -> pa.Table | None:
    turns = conversation_turns.turn_records(part)
    if not turns or part.judgements.num_rows == 0:
        return None
    by_conversation: dict[tuple[int, int], list] = {}
    for turn in turns:
        by_conversation.setdefault((turn.item_id, turn.participant_id), []).append(turn)
    judged = part.judgements
    keys = list(
        zip(
            judged.column("item_id").to_pylist(),
            judged.column("participant_id").to_pylist(),
            strict=True,
        )
    )
    rows = [n for n, key in enumerate(keys) if key in by_conversation]
    if not rows:
        return None
    chosen_keys = [keys[n] for n in rows]
    columns = conversation_turns.row_columns(
        part, [key[0] for key in chosen_keys], [key[1] for key in chosen_keys]
    )
    conversations = []
    for key in chosen_keys:
        last = by_conversation[key][-1]
        conversations.append([*last.prompt, {"role": "assistant", "content": last.continuation}])
    columns["messages"] = conversation_turns.messages(conversations)
    columns["turns"] = pa.array([len(by_conversation[key]) for key in chosen_keys], pa.int32())
    ratings = judged.column("rating").take(pa.array(rows)).combine_chunks()
    columns["rating"] = ratings
    values = np.asarray(ratings.to_numpy(zero_copy_only=False), dtype=float)
    midpoint = part.midpoint if part.midpoint is not None else 3.0
    label = pa.array(values > midpoint, pa.bool_(), mask=values == midpoint)
    columns["label"] = label
    columns["comment"] = judged.column("rationale").take(pa.array(rows)).combine_chunks()
    return pa.table(columns)


DATASET = Dataset(
    name="conversation_ratings",
    contents="closing ratings of whole conversations",
    columns=("conversation_id", "messages", "turns", "rating", "label", "comment"),
    build=_build,
    card_columns=lambda conversational: (
        "- Conversation ratings (`conversation_ratings`): one row per conversation; "
        "`messages` is the whole conversation as it went on (each message with the reply "
        "that continued it), `turns` how many turns were judged, `rating` the "
        "participant's closing rating on the campaign's scale (1 to 5 without one) and "
        "`comment` what they added; `label` is true above the scale's midpoint, false "
        "below and null at it, for KTO (with `messages` minus its last message as the "
        "prompt)."
    ),
)
