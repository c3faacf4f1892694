"""The limits, the error every check raises, and the field checks every shape is built
from: storable text, text fields, objects, known keys, whole numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_PROMPT_CHARS = 50_000
MAX_TEXT_CHARS = 20_000  # a candidate, a demonstration, an answer
MAX_SHORT_CHARS = 5_000  # a rationale, a persona, a situation, a source
MAX_CANDIDATES = 9  # keys 1..9 pick them
MAX_MESSAGES = 200
MAX_SOURCES = 50
MAX_ID_CHARS = 64
ROLES = ("system", "user", "assistant")
TIE = "tie"
CONFIDENCE_RANGE = (1, 5)
# The deepest shape any door accepts is four levels (context.messages.N.content);
# 32 leaves room and refuses a body long before a parser or walker recurses far.
MAX_JSON_DEPTH = 32
# Whole numbers are stored in 64-bit columns or used as small counts; anything
# longer than 64 bits is a mistake, and Python refuses int() beyond 4,300 digits.
MAX_INT = 2**63 - 1
# Likert scales run to 7 points and NPS to 11 (0-10); with at most 9 candidates a
# page then holds at most 99 rating buttons (the probe's 65,536-point scale made a
# 96 MB page).
MAX_RATING_POINTS = 11


class PayloadError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Outside the Basic Multilingual Plane's surrogate block, every code point is text;
# a lone surrogate is half of a UTF-16 pair that cannot be stored as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(value: str, field: str) -> str:
    """Refuse what PostgreSQL cannot store: NUL (in text and jsonb) and lone surrogates.

    Text is stored as given, so these are refused rather than stripped.
    """
    if "\x00" in value:
        raise PayloadError(field, "Must not contain the NUL character (U+0000).")
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise PayloadError(
            field,
            f"Contains a lone surrogate (U+{ord(surrogate.group()):04X}, character "
            f"{surrogate.start() + 1}); that is not valid Unicode text.",
        )
    return value


def field_name(key: str) -> str:
    """A key as it may appear in an error: odd characters written as escapes."""
    return ascii(key)[1:-1] if "\x00" in key or _SURROGATE.search(key) else key


def text_field(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise PayloadError(field, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise PayloadError(field, "Must be a string.")
    check_text(value, field)
    if required and not value.strip():
        raise PayloadError(field, "Must not be blank.")
    if len(value) > limit:
        raise PayloadError(field, f"At most {limit} characters (got {len(value)}).")
    return value


def mapping_field(value: Any, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise PayloadError(field, "Must be an object.")
    return value


def no_unknown(value: Mapping, allowed: set[str], field: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        prefix = f"{field}." if field else ""
        raise PayloadError(
            f"{prefix}{unknown[0]}", f"Unknown field; expected one of {', '.join(sorted(allowed))}."
        )


# ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and
# int() accepts "５" (full-width); a form or client sends plain digits, and a
# rating stored as given must read the same to every consumer.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")


def whole_number(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str):
        if not _WHOLE_NUMBER.fullmatch(value.strip()):
            raise PayloadError(field, "Must be a whole number.")
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(field, "Must be a whole number.")
    if not low <= value <= high:
        raise PayloadError(field, f"Must be between {low} and {high}.")
    return value
