"""Items: the context, the fields kinds build their payloads from (replies, messages,
completions, sources, how a candidate was generated), and the item's payload and
attention check, dispatched to the item's kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collection import kinds
from collection.payloads.fields import (
    MAX_MESSAGES,
    MAX_PROMPT_CHARS,
    MAX_SHORT_CHARS,
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    ROLES,
    PayloadError,
    check_text,
    mapping_field,
    no_unknown,
    text_field,
)


def validate_context(context: Any, *, episodic: bool) -> dict | None:
    if context in (None, {}, ""):
        if episodic:
            raise PayloadError(
                "context", "Episodic items need a context (messages, situation or persona)."
            )
        return None
    context = mapping_field(context, "context")
    no_unknown(context, {"messages", "situation", "persona"}, "context")
    result: dict[str, Any] = {}
    messages = context.get("messages")
    if messages is not None:
        if not isinstance(messages, list):
            raise PayloadError("context.messages", "Must be a list of {role, content}.")
        if len(messages) > MAX_MESSAGES:
            raise PayloadError("context.messages", f"At most {MAX_MESSAGES} messages.")
        clean = []
        for i, message in enumerate(messages):
            field = f"context.messages.{i}"
            clean.append(_message(message, field))
        if clean:
            result["messages"] = clean
    for key in ("situation", "persona"):
        if context.get(key):
            result[key] = text_field(context[key], f"context.{key}", limit=MAX_SHORT_CHARS)
    if not result:
        if episodic:
            raise PayloadError(
                "context", "Episodic items need a context (messages, situation or persona)."
            )
        return None
    return result


def reply_text(value: Any, field: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """An assistant's reply: it must be given, but may be empty, as said (public datasets
    hold replies where the model said nothing; HH-RLHF has four in one test file)."""
    if value is None:
        raise PayloadError(field, "This field is required.")
    if not isinstance(value, str):
        raise PayloadError(field, "Must be a string.")
    check_text(value, field)
    if len(value) > limit:
        raise PayloadError(field, f"At most {limit} characters (got {len(value)}).")
    return value


def _message(message: Any, field: str) -> dict:
    """One {role, content} message; an assistant's content may be empty (`reply_text`)."""
    message = mapping_field(message, field)
    no_unknown(message, {"role", "content"}, field)
    if message.get("role") not in ROLES:
        raise PayloadError(f"{field}.role", f"Must be one of {', '.join(ROLES)}.")
    if message["role"] == "assistant":
        content = reply_text(message.get("content"), f"{field}.content")
    else:
        content = text_field(message.get("content"), f"{field}.content", limit=MAX_TEXT_CHARS)
    return {"role": message["role"], "content": content}


def completion_messages(value: Any, field: str) -> list[dict]:
    """A multi-turn completion (TRL's conversational form): messages that start and end
    with the assistant, e.g. a candidate that goes on past its first reply."""
    if not isinstance(value, list) or not value:
        raise PayloadError(field, "Must be a non-empty list of {role, content}.")
    if len(value) > MAX_MESSAGES:
        raise PayloadError(field, f"At most {MAX_MESSAGES} messages.")
    messages = [_message(message, f"{field}.{i}") for i, message in enumerate(value)]
    for end in (0, len(messages) - 1):
        if messages[end]["role"] != "assistant":
            raise PayloadError(
                f"{field}.{end}.role", "A completion starts and ends with the assistant."
            )
    return messages


def sources_field(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise PayloadError(field, "Must be a list of strings.")
    if len(value) > MAX_SOURCES:
        raise PayloadError(field, f"At most {MAX_SOURCES} sources.")
    return [
        text_field(source, f"{field}.{i}", limit=MAX_SHORT_CHARS) for i, source in enumerate(value)
    ]


GENERATION_KEYS = {"job", "request", "endpoint", "model", "params", "latency_ms", "usage"}


def generation_field(value: Any, field: str) -> dict:
    """How a generated candidate was made: kept for researchers, never shown to annotators."""
    value = mapping_field(value, field)
    no_unknown(value, GENERATION_KEYS, field)
    for key in ("params", "usage"):
        if key in value and not isinstance(value[key], Mapping):
            raise PayloadError(f"{field}.{key}", "Must be an object.")
    for key in ("job", "request", "endpoint", "latency_ms"):
        if key in value and (not isinstance(value[key], int) or isinstance(value[key], bool)):
            raise PayloadError(f"{field}.{key}", "Must be a whole number.")
    return dict(value)


def validate_item_payload(
    kind: str, payload: Any, *, preference_format: str = "choice", prompts_only: bool = False
) -> dict:
    """``prompts_only``: a preference item may have fewer than two candidates for now
    (models generate them later); it is not served until it has two."""
    payload = mapping_field(payload if payload is not None else {}, "payload")
    rules = kinds.Rules(preference_format=preference_format, prompts_only=prompts_only)
    return _kind(kind).validate_payload(payload, rules)


def _kind(name: str) -> kinds.Kind:
    try:
        return kinds.get(name)
    except kinds.UnknownKind:
        raise PayloadError("kind", f"Unknown item kind {name!r}.") from None


def validate_expected(kind: str, expected: Any, payload: dict) -> dict:
    """What an attention check's correct answer looks like (each kind's module says)."""
    expected = mapping_field(expected, "expected")
    return _kind(kind).validate_expected(expected, payload)


def expected_contains(expected: Mapping) -> dict:
    """The text kinds' attention check: ``{"contains": "word"}``, matched case-insensitively."""
    no_unknown(expected, {"contains"}, "expected")
    return {"contains": text_field(expected.get("contains"), "expected.contains", limit=200)}


def validate_item(
    *,
    kind: str,
    prompt: Any,
    context: Any,
    payload: Any,
    expected: Any = None,
    episodic: bool = False,
    preference_format: str = "choice",
    prompts_only: bool = False,
) -> dict:
    """A whole item; returns {"prompt", "context", "payload", "expected"}, normalised."""
    payload = validate_item_payload(
        kind,
        payload,
        preference_format=preference_format,
        prompts_only=prompts_only and expected is None,
    )
    prompt = _kind(kind).item_prompt(prompt, payload)
    return {
        "prompt": text_field(prompt, "prompt", limit=MAX_PROMPT_CHARS),
        "context": validate_context(context, episodic=episodic),
        "payload": payload,
        "expected": None if expected is None else validate_expected(kind, expected, payload),
    }
