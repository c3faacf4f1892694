"""Preference pairs as public datasets ship them: Anthropic's HH-RLHF transcripts, and
``prompt``/``chosen``/``rejected`` rows (strings, or lists of ``{role, content}``
messages as in UltraFeedback-binarized and TRL's conversational format).

Both become one item: the turns the two conversations share, up to the last user turn
before they part, are its context and prompt; what follows in each is a candidate. That
is usually one assistant reply; when the two transcripts already differ in an earlier
turn, each candidate is the rest of its conversation (assistant, user, assistant, …),
which TRL takes as a multi-turn completion. Text is kept byte for byte: nothing is
stripped, and an empty reply stays an empty reply.
"""

from __future__ import annotations

import hashlib
from typing import Any

from collection import payloads
from collection.imports.errors import ImportFileError, row_error

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
MARKERS = {HUMAN: "user", ASSISTANT: "assistant"}
ROLES = ("system", "user", "assistant")


def parse_hh_transcript(text: str) -> list[dict]:
    """Split an HH-RLHF transcript into {role, content} turns, byte for byte.

    A turn is ``\\n\\nHuman: text`` or ``\\n\\nAssistant: text``: the one space after the
    colon separates, and everything after it up to the next marker is the text, with
    any further spaces and trailing newlines. A marker with nothing after it (the file's
    four empty replies) is a turn with empty text.
    """
    turns: list[dict] = []
    position = 0
    while True:
        starts = [(text.find(marker, position), marker) for marker in MARKERS]
        starts = [(index, marker) for index, marker in starts if index >= 0]
        if not starts:
            break
        index, marker = min(starts)
        if not turns and text[:index].strip():
            raise ValueError("text before the first Human: turn")
        if turns:
            turns[-1]["content"] = _content(text[position:index])
        turns.append({"role": MARKERS[marker], "content": ""})
        position = index + len(marker)
    if not turns:
        raise ValueError("no \\n\\nHuman: or \\n\\nAssistant: turns")
    turns[-1]["content"] = _content(text[position:])
    return turns


def _content(piece: str) -> str:
    return piece[1:] if piece.startswith(" ") else piece


def hh_transcript(messages: list[dict]) -> str:
    """The HH-RLHF transcript of turns, as `parse_hh_transcript` reads it (its inverse for
    every transcript that puts the one space after each marker)."""
    markers = {role: marker for marker, role in MARKERS.items()}
    return "".join(f"{markers[m['role']]} {m['content']}" for m in messages)


def split_conversations(
    chosen: list[dict], rejected: list[dict], number: int, unit: str = "Line"
) -> tuple[list[dict], list[dict], list[dict]]:
    """(shared history ending with a user turn, chosen completion, rejected completion)."""
    differ = next(
        (i for i, (c, r) in enumerate(zip(chosen, rejected, strict=False)) if c != r),
        min(len(chosen), len(rejected)),
    )
    last_user = next((i for i in range(differ - 1, -1, -1) if chosen[i]["role"] == "user"), None)
    if last_user is None:
        raise ImportFileError(
            "chosen and rejected share no user (Human:) turn before they differ.",
            line=number,
            unit=unit,
        )
    start = last_user + 1
    completions = chosen[start:], rejected[start:]
    for key, completion in zip(("chosen", "rejected"), completions, strict=True):
        if not completion or completion[0]["role"] != "assistant":
            raise ImportFileError(
                "Must go on with an assistant turn after the last shared user turn.",
                line=number,
                field=key,
                unit=unit,
            )
        if completion[-1]["role"] != "assistant":
            raise ImportFileError(
                "Must end with an assistant (Assistant:) turn.", line=number, field=key, unit=unit
            )
    return chosen[:start], *completions


def conversation_item(
    *,
    number: int,
    history: list[dict],
    completions: dict[str, list[dict]],
    source: str,
    order_key: str,
    external_id: Any = None,
) -> dict:
    """An item row (the native JSONL shape) from a split conversation.

    The candidates' order is fixed by a hash of the row (``order_key``), so annotators
    cannot learn that "a" was the original choice; ``source`` records the original label.
    """
    replies = []
    for label, completion in completions.items():
        candidate = {"text": completion[0]["content"], "source": f"{source}:{label}"}
        if len(completion) > 1:
            candidate["messages"] = completion
        replies.append(candidate)
    if hashlib.sha256(f"{number}:{order_key}".encode()).digest()[0] % 2:
        replies.reverse()
    return {
        "external_id": external_id,
        "prompt": history[-1]["content"],
        "context": {"messages": history[:-1]} if len(history) > 1 else None,
        "payload": {"candidates": [{"id": "ab"[i], **reply} for i, reply in enumerate(replies)]},
    }


def hh_item(number: int, row: dict) -> dict:
    """An item from an HH-RLHF line: {"chosen": transcript, "rejected": transcript}."""
    for key in ("chosen", "rejected"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ImportFileError("Must be a non-empty transcript string.", line=number, field=key)
    transcripts = {}
    for key in ("chosen", "rejected"):
        _check_text(row[key], key, number, "Line")
        try:
            transcripts[key] = parse_hh_transcript(row[key])
        except ValueError as error:
            raise ImportFileError(
                f"Not an HH-RLHF transcript: {error}.", line=number, field=key
            ) from error
        _no_empty_human_turn(transcripts[key], key, number)
    history, chosen, rejected = split_conversations(
        transcripts["chosen"], transcripts["rejected"], number
    )
    return conversation_item(
        number=number,
        history=history,
        completions={"chosen": chosen, "rejected": rejected},
        source="hh-rlhf",
        order_key=row["chosen"],
        external_id=row.get("external_id") or row.get("id"),
    )


def _no_empty_human_turn(turns: list[dict], key: str, number: int) -> None:
    """An empty reply is an answer to judge; an empty question is not (and hh-rlhf's
    harmless-base test file has none, so refusing loses no line of it)."""
    humans = (turn for turn in turns if turn["role"] == "user")
    for n, turn in enumerate(humans, start=1):
        if not turn["content"].strip():
            raise ImportFileError(
                f"Human turn {n} is empty: a conversation whose question has no text cannot "
                "be judged. Remove the line, or import with keep-valid to leave it out.",
                line=number,
                field=key,
            )


# prompt / chosen / rejected -------------------------------------------------------------


def _check_text(value: str, field: str, number: int, unit: str) -> None:
    """Name the file's own column: the item's fields are known only after the split."""
    try:
        payloads.check_text(value, field)
    except payloads.PayloadError as error:
        raise row_error(error, number, unit) from error


def _messages(value: Any, field: str, number: int, unit: str) -> list[dict]:
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise ImportFileError(
                "Must be a {role, content} message.", line=number, field=f"{field}.{i}", unit=unit
            )
        if message.get("role") not in ROLES:
            raise ImportFileError(
                f"Must be one of {', '.join(ROLES)}.",
                line=number,
                field=f"{field}.{i}.role",
                unit=unit,
            )
        if not isinstance(message.get("content"), str):
            raise ImportFileError(
                "Must be a string.", line=number, field=f"{field}.{i}.content", unit=unit
            )
        _check_text(message["content"], f"{field}.{i}.content", number, unit)
        messages.append({"role": message["role"], "content": message["content"]})
    return messages


def pair_item(number: int, row: dict, unit: str = "Line") -> dict:
    """An item from a ``prompt``/``chosen``/``rejected`` row; other columns are ignored
    but ``external_id`` (or ``id``)."""
    prompt, chosen, rejected = row.get("prompt"), row.get("chosen"), row.get("rejected")
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str | list):
            raise ImportFileError(
                "Must be a string or a list of {role, content} messages.",
                line=number,
                field=key,
                unit=unit,
            )
    for key, value in (("prompt", prompt), ("chosen", chosen), ("rejected", rejected)):
        if isinstance(value, str):
            _check_text(value, key, number, unit)
    if isinstance(chosen, str) != isinstance(rejected, str):
        raise ImportFileError(
            "chosen and rejected must both be strings or both message lists.",
            line=number,
            field="rejected",
            unit=unit,
        )
    if prompt is not None and not isinstance(prompt, str | list):
        raise ImportFileError(
            "Must be a string or a list of {role, content} messages.",
            line=number,
            field="prompt",
            unit=unit,
        )
    if isinstance(prompt, list):
        head = _messages(prompt, "prompt", number, unit)
    elif isinstance(prompt, str):
        head = [{"role": "user", "content": prompt}]
    else:
        head = []
    if isinstance(chosen, str):
        if not head:
            raise ImportFileError(
                "A prompt is needed when chosen and rejected are strings.",
                line=number,
                field="prompt",
                unit=unit,
            )
        conversations = [
            [*head, {"role": "assistant", "content": text}] for text in (chosen, rejected)
        ]
    else:
        lists = [
            _messages(chosen, "chosen", number, unit),
            _messages(rejected, "rejected", number, unit),
        ]
        # UltraFeedback-binarized: each list holds the whole conversation, user turn
        # included, and the prompt column repeats the first user turn.
        complete = any(m["role"] == "user" for m in lists[0] + lists[1])
        if complete and isinstance(prompt, str):
            if not any(m["role"] == "user" and m["content"] == prompt for m in lists[0]):
                raise ImportFileError(
                    "chosen holds the whole conversation, but no user turn of it is the prompt.",
                    line=number,
                    field="prompt",
                    unit=unit,
                )
            head = []
        conversations = [[*head, *messages] for messages in lists]
    history, chosen_part, rejected_part = split_conversations(*conversations, number, unit)
    return conversation_item(
        number=number,
        history=history,
        completions={"chosen": chosen_part, "rejected": rejected_part},
        source="dataset",
        order_key=repr(conversations[0]),
        external_id=row.get("external_id") if row.get("external_id") is not None else row.get("id"),
    )
