"""Conversations as trees in the shape OpenAssistant publishes its conversations
(``2023-04-12_oasst_ready.trees.jsonl`` of OpenAssistant/oasst1; Köpf et al., 2023,
"OpenAssistant Conversations", section 3): one line per conversation, ``prompt`` its
first ``prompter`` message, each message's ``replies`` its children, every turn's
assistant replies siblings with their ``rank`` (0 = best).

Ranks: a choice ranks the chosen reply 0 and every other reply shown 1; a ranking gives
each reply its place; ratings rank by rating, equal ratings sharing a rank (dense). The
reply that carried the conversation on has the next ``prompter`` message as its reply;
when the participant edited it, the edit is one more assistant sibling (``edit_of``
names the reply, ``rank`` null) and the conversation goes on under the edit. Replies
that failed were never shown and are left out. The seed's system prompt, persona,
situation and earlier messages are the tree's ``context`` (messages before the root).

In Parquet, ``prompt`` is the tree as JSON text (Arrow has no recursive type); in
``conversations.jsonl``, always written, it is the nested object.
"""

from __future__ import annotations

import json

import pyarrow as pa

from aggregation.release.datasets import turns as conversation_turns
from aggregation.release.datasets.base import Dataset, Part

TREE_STATE = "ready_for_export"


def _ranks(turn: conversation_turns.TurnRecord) -> dict[str, int]:
    judgement = turn.judgement
    if "choice" in judgement:
        return {reply_id: 0 if reply_id == judgement["choice"] else 1 for reply_id in turn.shown}
    if "ranking" in judgement:
        return {reply_id: place for place, reply_id in enumerate(judgement["ranking"])}
    levels = sorted(set(judgement["ratings"].values()), reverse=True)
    return {reply_id: levels.index(judgement["ratings"][reply_id]) for reply_id in turn.shown}


def tree(conversation_id: str, user_id: str, turns: list[conversation_turns.TurnRecord]) -> dict:
    """The conversation's root message, its turns nested below it."""
    root: dict | None = None
    parent: dict | None = None
    for turn in turns:
        prompter_id = f"{conversation_id}-t{turn.index}"
        prompter = {
            "message_id": prompter_id,
            "parent_id": parent["message_id"] if parent else None,
            "user_id": user_id,
            "text": turn.message,
            "role": "prompter",
            "rank": None,
            "synthetic": False,
            "model_name": None,
            "replies": [],
        }
        if parent is None:
            root = prompter
        else:
            parent["replies"].append(prompter)
        ranks = _ranks(turn)
        continuing = None
        for reply_id in turn.shown:
            reply = turn.replies[reply_id]
            node = {
                "message_id": f"{prompter_id}-{reply_id}",
                "parent_id": prompter_id,
                "user_id": None,
                "text": reply["text"],
                "role": "assistant",
                "rank": ranks[reply_id],
                "synthetic": True,
                "model_name": reply["source"],
                "replies": [],
            }
            prompter["replies"].append(node)
            if reply_id == turn.chosen:
                continuing = node
        if turn.edited_text:
            edit = {
                "message_id": f"{prompter_id}-edit",
                "parent_id": prompter_id,
                "user_id": user_id,
                "text": turn.edited_text,
                "role": "assistant",
                "rank": None,
                "synthetic": False,
                "model_name": None,
                "edit_of": continuing["message_id"],
                "replies": [],
            }
            prompter["replies"].append(edit)
            continuing = edit
        parent = continuing
    return root


def _build(part: Part) -> pa.Table | None:
    grouped: dict[tuple[int, int], list] = {}
    for turn in conversation_turns.turn_records(part):
        grouped.setdefault((turn.item_id, turn.participant_id), []).append(turn)
    if not grouped:
        return None
    keys = list(grouped)
    columns = conversation_turns.row_columns(
        part, [key[0] for key in keys], [key[1] for key in keys]
    )
    names = columns["conversation_id"].to_pylist()
    users = columns["participant_id"].to_pylist()
    columns["message_tree_id"] = pa.array(names, pa.string())
    columns["tree_state"] = pa.array([TREE_STATE] * len(keys), pa.string())
    columns["context"] = conversation_turns.messages([grouped[key][0].history for key in keys])
    columns["prompt"] = pa.array(
        [
            json.dumps(tree(name, user, grouped[key]), ensure_ascii=False, separators=(",", ":"))
            for name, user, key in zip(names, users, keys, strict=True)
        ],
        pa.string(),
    )
    return pa.table(columns)


def jsonl_record(row: dict) -> dict:
    return {**row, "prompt": json.loads(row["prompt"])}


DATASET = Dataset(
    name="conversations",
    contents="conversation trees (OpenAssistant's shape; also as JSONL)",
    columns=("conversation_id", "message_tree_id", "tree_state", "context", "prompt"),
    build=_build,
    card_columns=lambda conversational: (
        "- Conversation trees (`conversations`, and `conversations.jsonl`): one per "
        "conversation in the shape of OpenAssistant's `trees.jsonl`: `prompt` is the "
        "first `prompter` message, each message has `message_id`, `parent_id`, `user_id` "
        "(the participant's pseudonym on their own messages), `text`, `role`, `rank` "
        "(0 = best among its siblings: a choice ranks the others 1, ratings rank equal "
        "ratings alike), `synthetic`, `model_name` (the endpoint) and `replies`. The "
        "reply that carried the conversation on holds the next message; an edit is one "
        "more sibling with `edit_of` and the conversation goes on under it. `context` "
        "holds the messages before the first one (system prompt, persona, situation). "
        "In Parquet `prompt` is JSON text; in the JSONL file, the nested object."
    ),
    jsonl_record=jsonl_record,
)
