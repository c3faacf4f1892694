"""Responses: a response checked against its item and campaign (the kind's part, then
rationale and confidence), the choice it puts first, and attention checks."""

from __future__ import annotations

from typing import Any

from collection import kinds
from collection.payloads.fields import (
    CONFIDENCE_RANGE,
    MAX_INT,
    MAX_SHORT_CHARS,
    TIE,
    PayloadError,
    mapping_field,
    text_field,
    whole_number,
)
from collection.payloads.items import _kind


def validate_response(
    *,
    kind: str,
    payload: Any,
    item_payload: dict,
    preference_format: str = "choice",
    rating_scale: tuple[int, int] | None = None,
    rubric: tuple[str, ...] = (),
    ask_rationale: bool = False,
    ask_confidence: bool = False,
) -> dict:
    """A response to an item, checked against that item and its campaign's rules
    (``rubric``: the names of the attributes a rating campaign scores)."""
    payload = mapping_field(payload, "payload")
    rules = kinds.Rules(
        preference_format=preference_format, rating_scale=rating_scale, rubric=tuple(rubric)
    )
    result: dict[str, Any] = _kind(kind).validate_response(payload, item_payload, rules)
    rationale = text_field(
        payload.get("rationale"), "rationale", limit=MAX_SHORT_CHARS, required=False
    )
    if rationale:
        result["rationale"] = rationale
    elif ask_rationale:
        raise PayloadError("rationale", "Say briefly why.")
    confidence = payload.get("confidence")
    if confidence not in (None, ""):
        result["confidence"] = whole_number(confidence, "confidence", *CONFIDENCE_RANGE)
    elif ask_confidence:
        raise PayloadError("confidence", "Say how confident you are.")
    return result


def top_choice(payload: dict) -> str | None:
    """The candidate a preference response puts first (None for a tie or a rating tie)."""
    if "choice" in payload:
        return None if payload["choice"] == TIE else payload["choice"]
    if "ranking" in payload:
        return payload["ranking"][0]
    ratings = payload.get("ratings") or {}
    if ratings:
        best = max(ratings.values())
        leaders = [candidate_id for candidate_id, value in ratings.items() if value == best]
        return leaders[0] if len(leaders) == 1 else None
    return None


def attention_check_passed(expected: dict, payload: dict) -> bool:
    if "choice" in expected:
        return payload.get("choice") == expected["choice"]
    if "top" in expected:
        return top_choice(payload) == expected["top"]
    if "min" in expected or "max" in expected:  # a rating: every score inside the bounds
        scores = (payload.get("scores") or {}).values()
        low, high = expected.get("min", -MAX_INT), expected.get("max", MAX_INT)
        return bool(scores) and all(low <= score <= high for score in scores)
    # The text kinds name their answer's key; a response has at most one of them.
    text = next(
        (
            payload[kind.answer_text_key]
            for kind in kinds.all()
            if kind.answer_text_key and payload.get(kind.answer_text_key)
        ),
        "",
    )
    return expected["contains"].casefold() in text.casefold()
