"""Validation of every JSON shape the platform accepts, in one place.

Web forms, the REST API and file imports all call these functions, so an item
or a response is judged by the same rules whichever door it came through. What
differs by item kind is declared by the kind's module (`collection.kinds`), called
from here; the text, number and field-path helpers it uses are the ones below.
Each function returns a normalised copy and raises `PayloadError` naming the
offending field (dotted path, e.g. ``payload.candidates.1.text``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from collection import kinds

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


# Audiences -----------------------------------------------------------------


def validate_attribute_schema(schema: Any) -> list[dict]:
    if not isinstance(schema, list):
        raise PayloadError("attribute_schema", "Must be a list of attributes.")
    seen: set[str] = set()
    result = []
    for i, attribute in enumerate(schema):
        field = f"attribute_schema.{i}"
        attribute = mapping_field(attribute, field)
        no_unknown(attribute, {"name", "label", "choices"}, field)
        name = text_field(attribute.get("name"), f"{field}.name", limit=MAX_ID_CHARS)
        if not name.isidentifier():
            raise PayloadError(f"{field}.name", "Use letters, digits and underscores.")
        if name in seen:
            raise PayloadError(f"{field}.name", f"Attribute {name!r} appears twice.")
        seen.add(name)
        choices = attribute.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise PayloadError(f"{field}.choices", "Give at least two allowed values.")
        for j, choice in enumerate(choices):
            text_field(choice, f"{field}.choices.{j}", limit=200)
        if len(set(choices)) != len(choices):
            raise PayloadError(f"{field}.choices", "Allowed values must be distinct.")
        label = attribute.get("label") or name.replace("_", " ").capitalize()
        result.append(
            {
                "name": name,
                "label": text_field(label, f"{field}.label", limit=200),
                "choices": list(choices),
            }
        )
    return result


def validate_target_marginals(marginals: Any, schema: list[dict], *, kind: str) -> dict:
    marginals = mapping_field(marginals if marginals is not None else {}, "target_marginals")
    if marginals and kind != "public":
        raise PayloadError("target_marginals", "Only public audiences have target marginals.")
    choices = {attribute["name"]: attribute["choices"] for attribute in schema}
    result = {}
    for name, shares in marginals.items():
        field = f"target_marginals.{name}"
        if name not in choices:
            raise PayloadError(field, "Not an attribute of this audience's schema.")
        shares = mapping_field(shares, field)
        for value, share in shares.items():
            if value not in choices[name]:
                raise PayloadError(f"{field}.{value}", f"Not an allowed value of {name}.")
            if (
                not isinstance(share, int | float)
                or isinstance(share, bool)
                or not math.isfinite(share)
                or share < 0
            ):
                raise PayloadError(f"{field}.{value}", "Must be a number from 0 to 1.")
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            raise PayloadError(field, f"Shares must add up to 1 (they add up to {total:g}).")
        result[name] = {value: float(share) for value, share in shares.items()}
    return result


def validate_attributes(values: Any, schema: list[dict]) -> dict:
    """A member's self-reported attributes: exactly the schema's, with allowed values."""
    values = mapping_field(values if values is not None else {}, "attributes")
    no_unknown(values, {attribute["name"] for attribute in schema}, "attributes")
    for attribute in schema:
        field = f"attributes.{attribute['name']}"
        if attribute["name"] not in values:
            raise PayloadError(field, "This field is required.")
        if values[attribute["name"]] not in attribute["choices"]:
            raise PayloadError(
                field, f"Choose one of: {', '.join(map(str, attribute['choices']))}."
            )
    return dict(values)


# Items ---------------------------------------------------------------------


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


# Campaigns -----------------------------------------------------------------


def validate_rating_scale(low: int | None, high: int | None) -> tuple[int, int] | None:
    """An inclusive rating scale, both ends or neither, at most MAX_RATING_POINTS points."""
    if low is None and high is None:
        return None
    if low is None or high is None:
        raise PayloadError("rating_max", "Give both ends of the rating scale, or neither.")
    if low >= high:
        raise PayloadError("rating_max", "The top of the scale must be above the bottom.")
    if high - low + 1 > MAX_RATING_POINTS:
        raise PayloadError(
            "rating_max",
            f"A rating scale has at most {MAX_RATING_POINTS} points (as 0-10 does); "
            f"{low} to {high} has {high - low + 1}.",
        )
    return (low, high)


# A rubric names what a single-response rating campaign scores (HelpSteer2's five:
# helpfulness, correctness, coherence, complexity, verbosity); every attribute is
# rated on the campaign's one scale. Nine attributes of at most 11 points keep a page
# at the 99 buttons a nine-candidate rating page has. Names are lower-case
# identifiers because releases name columns after them (``mean_helpfulness``).
MAX_RUBRIC_ATTRIBUTES = 9
_RUBRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Without a rubric, a rating campaign asks for one score, stored under this name.
DEFAULT_RUBRIC = ({"name": "overall", "label": "Overall", "description": ""},)


def validate_rubric(rubric: Any) -> list[dict]:
    """A campaign's rubric: a list of attributes, each a name (or an object with
    ``name`` and optional ``label`` and ``description``); empty means no rubric."""
    if rubric is None or rubric == "":
        return []
    if not isinstance(rubric, list):
        raise PayloadError("rating_rubric", "Must be a list of attributes.")
    if len(rubric) > MAX_RUBRIC_ATTRIBUTES:
        raise PayloadError(
            "rating_rubric", f"At most {MAX_RUBRIC_ATTRIBUTES} attributes (got {len(rubric)})."
        )
    result, seen = [], set()
    for i, attribute in enumerate(rubric):
        field = f"rating_rubric.{i}"
        if isinstance(attribute, str):
            attribute = {"name": attribute}
        attribute = mapping_field(attribute, field)
        no_unknown(attribute, {"name", "label", "description"}, field)
        name = text_field(attribute.get("name"), f"{field}.name", limit=40)
        if not _RUBRIC_NAME.fullmatch(name):
            raise PayloadError(
                f"{field}.name",
                "Use lower-case letters, digits and underscores, starting with a letter.",
            )
        if name in seen:
            raise PayloadError(f"{field}.name", f"Attribute {name!r} appears twice.")
        seen.add(name)
        label = attribute.get("label") or name.replace("_", " ").capitalize()
        entry = {
            "name": name,
            "label": text_field(label, f"{field}.label", limit=200),
            "description": text_field(
                attribute.get("description"), f"{field}.description", limit=1000, required=False
            ),
        }
        for key in ("label", "description"):
            # One line each: the workbench shows a rubric as one attribute a line.
            if "\n" in entry[key] or "\r" in entry[key]:
                raise PayloadError(f"{field}.{key}", "Must be one line.")
        result.append(entry)
    return result


def rubric_or_default(rubric: list[dict] | None) -> list[dict]:
    """The attributes a rating campaign scores: its rubric, or the one overall score."""
    return list(rubric) if rubric else [dict(attribute) for attribute in DEFAULT_RUBRIC]


# Responses -----------------------------------------------------------------


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
