"""JSON from outside: `loads` parses it, `check_json` walks it (storable keys and
strings, numbers in range, nesting no deeper than MAX_JSON_DEPTH), naming the path of
what it refuses."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from collection.payloads.fields import (
    _SURROGATE,
    MAX_INT,
    MAX_JSON_DEPTH,
    PayloadError,
    check_text,
    field_name,
)


def _join(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


class _LongInteger(str):
    """A JSON integer too long to convert, kept as its digits so the walker can name it."""


def check_json(value: Any, field: str = "", *, depth: int = 0) -> Any:
    """Walk parsed JSON: every key and string storable, no number out of range, no
    nesting deeper than MAX_JSON_DEPTH. Raises PayloadError naming the path."""
    if isinstance(value, _LongInteger):
        raise PayloadError(field, f"A number of {len(value.lstrip('-'))} digits is too large.")
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise PayloadError(field, "This number is too large.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(field, "Must be a finite number.")
    elif isinstance(value, dict | list):
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(field)
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(key, _join(field, field_name(key)))
                check_json(item, _join(field, key), depth=depth + 1)
        else:
            for index, item in enumerate(value):
                check_json(item, _join(field, index), depth=depth + 1)
    return value


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:|[\[\]{},]')
_DEEP_SHOWN = 5  # deeper than any accepted shape, so it reaches the odd value; 32 would not help


def _too_deep(field: str) -> PayloadError:
    shown = ".".join(field.split(".")[:_DEEP_SHOWN]) if field else "body"
    return PayloadError(shown, f"Nested more than {MAX_JSON_DEPTH} levels deep.")


def _deep_field(text: str, field: str) -> str:
    """The path at which ``text`` nests too deep, found without recursing.

    Only needed when the parser itself gave up (at Python's recursion limit,
    about 1,000 levels), so the walker never saw the value.
    """
    kinds: list[str] = []  # "[" or "{" per open container
    keys: list[str] = []  # the position inside each: array index, or last key
    for token in _JSON_TOKEN.finditer(text):
        mark = token.group()
        if mark in ("[", "{"):
            if len(kinds) >= MAX_JSON_DEPTH:
                break
            kinds.append(mark)
            keys.append("0" if mark == "[" else "")
        elif mark in ("]", "}"):
            if kinds:
                kinds.pop()
                keys.pop()
        elif mark == ",":
            if kinds and kinds[-1] == "[":
                keys[-1] = str(int(keys[-1]) + 1)
        elif kinds:
            keys[-1] = field_name(json.loads(mark.rstrip()[:-1].rstrip()))
    return ".".join([field, *keys] if field else keys)


def _parse_int(digits: str) -> int | _LongInteger:
    return int(digits) if len(digits) <= 20 else _LongInteger(digits)


class _OddNumber(Exception):
    pass


def _int_or_odd(digits: str) -> int:
    if len(digits) > 20:
        raise _OddNumber
    return int(digits)


def _float_or_odd(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise _OddNumber
    return value


def _odd_constant(name: str) -> float:
    raise _OddNumber


# Decoders built once: json.loads with hooks builds a new one on every call. The
# quick one stops at the first number check_json would refuse; the careful one
# keeps such numbers (too long: as digits; NaN, Infinity, 1e999: as floats) for
# check_json to name by path.
_QUICK = json.JSONDecoder(
    parse_int=_int_or_odd, parse_float=_float_or_odd, parse_constant=_odd_constant
)
_CAREFUL = json.JSONDecoder(parse_int=_parse_int)
_ODD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


def loads(text: str, field: str = "") -> Any:
    """JSON from outside, checked by `check_json`; raises json.JSONDecodeError as json does.

    Walking every parsed value doubled an import's parse time, so the walk runs
    only when the text could hold something to refuse: an odd number, a \\u0000
    or surrogate escape, a raw surrogate (a raw NUL is a JSON syntax error), or
    more openers than the depth limit.
    """
    try:
        try:
            value = _QUICK.decode(text)
        except _OddNumber:
            return check_json(_CAREFUL.decode(text), field)
    except RecursionError:
        raise _too_deep(_deep_field(text, field)) from None
    if (
        text.count("[") + text.count("{") > MAX_JSON_DEPTH
        or ("\\u" in text and _ODD_ESCAPE.search(text))
        or (not text.isascii() and _SURROGATE.search(text))
    ):
        check_json(value, field)
    return value
