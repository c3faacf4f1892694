"""In-context packs (the in-context-learning paradigm of episodic and dyadic alignment):
few-shot examples of what an audience, or one dyadic person, prefers, as chat messages a
model can be prompted with.

- Per audience, one pack of its ``icl_examples`` most agreed-on items: those with at least
  two votes and one candidate ahead, by the winner's vote share, then by votes, then by
  item id. Each example is the item's prompt and the winning reply.
- Per person of a dyadic audience, one pack of their own first ``icl_examples``
  judgements with a winner (in the release's order), each the prompt and the reply the
  person put first.

A pack's ``messages`` are its examples one after another (each prompt's messages, system
messages left out so that a chat template accepts the whole, then the reply as the
assistant's turn, or all the turns of a candidate that goes on past its first reply);
``examples`` keeps each example whole, with its share and votes. Only the packs are
kept while the campaign is read (at most ``icl_examples`` items per pack), so memory
stays flat.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from aggregation.metrics import vote_shares
from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Final, Part
from aggregation.release.datasets.split_views import judgement_number

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
EXAMPLE = pa.struct(
    [
        ("item_id", pa.int64()),
        ("external_id", pa.string()),
        ("prompt", pa.list_(MESSAGE)),
        ("chosen_id", pa.string()),
        ("chosen", pa.string()),
        # The winning reply as chat turns: all of a multi-turn candidate's, else the one.
        ("chosen_messages", pa.list_(MESSAGE)),
        ("share", pa.float64()),
        ("votes", pa.int64()),
    ]
)


def _prompt(items: tables.Items, position: int) -> list[dict]:
    start, end = int(items.message_offsets[position]), int(items.message_offsets[position + 1])
    contents = items.message_contents.slice(start, end - start).to_pylist()
    roles = items.message_roles[start:end].tolist()
    return [
        {"role": tables.ROLES[role], "content": content}
        for role, content in zip(roles, contents, strict=True)
    ]


def _reply_messages(items: tables.Items, flat: int) -> list[dict]:
    raw = items.candidate_messages[flat].as_py()
    if raw is None:
        return [{"role": "assistant", "content": items.candidate_texts[flat].as_py()}]
    return [{"role": m["role"], "content": m["content"]} for m in json.loads(raw)]


def _example(items: tables.Items, position: int, candidate: int, share, votes) -> dict:
    flat = int(items.candidate_offsets[position]) + candidate
    return {
        "item_id": int(items.ids[position]),
        "external_id": items.external_id[position].as_py(),
        "prompt": _prompt(items, position),
        "chosen_id": items.candidate_ids[flat].as_py(),
        "chosen": items.candidate_texts[flat].as_py(),
        "chosen_messages": _reply_messages(items, flat),
        "share": share,
        "votes": votes,
    }


def _audience_examples(part: Part, k: int) -> list[tuple[tuple, dict]]:
    """The chunk's k most agreed-on items, each with its sort key."""
    counts, ties = part.vote_counts
    sizes = np.diff(part.items.candidate_offsets)
    total = counts.sum(axis=1) + ties
    with np.errstate(invalid="ignore"):
        shares = np.nan_to_num(vote_shares(counts, ties, sizes))
    ranked = np.sort(shares, axis=1)
    best = ranked[:, -1] if shares.shape[1] else np.zeros(len(total))
    second = ranked[:, -2] if shares.shape[1] > 1 else np.zeros(len(total))
    eligible = np.flatnonzero((total >= 2) & (best > second))
    order = eligible[np.lexsort((part.items.ids[eligible], -total[eligible], -best[eligible]))]
    return [
        (
            (-float(best[p]), -int(total[p]), int(part.items.ids[p])),
            _example(part.items, int(p), int(np.argmax(shares[p])), float(best[p]), int(total[p])),
        )
        for p in order[:k]
    ]


def gather(part: Part) -> None:
    """Keep the best examples so far (written by `pack_table` at the end)."""
    k = part.views.icl_examples
    state = part.views.state.setdefault(
        ("icl_packs", part.audience), {"audience": [], "people": {}}
    )
    state["audience"] = sorted(state["audience"] + _audience_examples(part, k))[:k]
    if part.audience_kind != "dyadic":
        return None
    number = judgement_number(part, ("icl_packs_number", part.audience))
    votes = part.top_votes
    people = state["people"]
    for row in np.flatnonzero((votes >= 0) & (number < k)).tolist():
        examples = people.setdefault(int(part.person[row]), [])
        if len(examples) < k:
            examples.append(_example(part.items, int(part.item_pos[row]), int(votes[row]), None, 1))
    return None


def _messages(examples: list[dict]) -> list[dict]:
    messages = []
    for example in examples:
        messages += [m for m in example["prompt"] if m["role"] != "system"]
        messages += example["chosen_messages"]
    return messages


def pack_table(final: Final) -> pa.Table | None:
    state = final.views.state.get(("icl_packs", final.audience))
    if state is None:
        return None
    packs = [("audience", None, [example for _, example in state["audience"]])]
    pseudonyms = final.people.pseudonyms.to_pylist()
    for person, examples in sorted(state["people"].items()):
        packs.append(("person", pseudonyms[person], examples))
    packs = [pack for pack in packs if pack[2]]
    if not packs:
        return None
    return pa.table(
        {
            "audience": pa.array([final.context.audience] * len(packs), pa.string()),
            "pack": pa.array([pack for pack, _, _ in packs], pa.string()),
            "participant_id": pa.array([person for _, person, _ in packs], pa.string()),
            "k": pa.array([len(examples) for _, _, examples in packs], pa.int64()),
            "messages": pa.array(
                [_messages(examples) for _, _, examples in packs], pa.list_(MESSAGE)
            ),
            "examples": pa.array([examples for _, _, examples in packs], pa.list_(EXAMPLE)),
        }
    )


DATASET = Dataset(
    name="icl_packs",
    contents="in-context packs: k examples per audience, and per dyadic person",
    columns=("pack", "k", "messages", "examples"),
    build=gather,
    finish=pack_table,
    card_columns=lambda conversational: (
        "- In-context packs: `pack` = audience (its most agreed-on items) or person (a "
        "dyadic member's own first judgements, `participant_id`); `messages` is the pack as "
        "chat turns, `examples` each example with the winning reply (`chosen`, and as chat "
        "turns `chosen_messages`: all of a reply that goes on past its first turn), its "
        "`share` and `votes`."
    ),
    recipe=(
        "**In-context alignment**: prepend `<audience>-icl-packs` `messages` to a chat "
        "(the audience's pack, or a dyadic person's own) and ask the model to answer as "
        "that audience or person would prefer; no training needed."
    ),
)
