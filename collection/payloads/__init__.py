"""Validation of every JSON shape the platform accepts, in one place.

Web forms, the REST API and file imports all call these functions, so an item
or a response is judged by the same rules whichever door it came through. What
differs by item kind is declared by the kind's module (`collection.kinds`), called
from here; the text, number and field-path helpers it uses are the ones in ``fields``.
Each function returns a normalised copy and raises `PayloadError` naming the
offending field (dotted path, e.g. ``payload.candidates.1.text``).

Modules: ``fields`` (limits, ``PayloadError``, ``check_text``, ``text_field``,
``mapping_field``, ``no_unknown``, ``whole_number``), ``json_input`` (``loads``,
``check_json``), ``audiences`` (attribute schemas, target marginals, attributes),
``items`` (context, replies, messages, sources, generation, ``validate_item``),
``campaigns`` (rating scale, rubric) and ``responses`` (``validate_response``,
``top_choice``, ``attention_check_passed``).
"""

from collection.payloads.audiences import (
    validate_attribute_schema,
    validate_attributes,
    validate_target_marginals,
)
from collection.payloads.campaigns import (
    DEFAULT_RUBRIC,
    MAX_RUBRIC_ATTRIBUTES,
    rubric_or_default,
    validate_rating_scale,
    validate_rubric,
)
from collection.payloads.fields import (
    CONFIDENCE_RANGE,
    MAX_CANDIDATES,
    MAX_ID_CHARS,
    MAX_INT,
    MAX_JSON_DEPTH,
    MAX_MESSAGES,
    MAX_PROMPT_CHARS,
    MAX_RATING_POINTS,
    MAX_SHORT_CHARS,
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    ROLES,
    TIE,
    PayloadError,
    check_text,
    field_name,
    mapping_field,
    no_unknown,
    text_field,
    whole_number,
)
from collection.payloads.items import (
    GENERATION_KEYS,
    completion_messages,
    expected_contains,
    generation_field,
    reply_text,
    sources_field,
    validate_context,
    validate_expected,
    validate_item,
    validate_item_payload,
)
from collection.payloads.json_input import check_json, loads
from collection.payloads.responses import attention_check_passed, top_choice, validate_response

__all__ = [
    "CONFIDENCE_RANGE",
    "DEFAULT_RUBRIC",
    "GENERATION_KEYS",
    "MAX_CANDIDATES",
    "MAX_ID_CHARS",
    "MAX_INT",
    "MAX_JSON_DEPTH",
    "MAX_MESSAGES",
    "MAX_PROMPT_CHARS",
    "MAX_RATING_POINTS",
    "MAX_RUBRIC_ATTRIBUTES",
    "MAX_SHORT_CHARS",
    "MAX_SOURCES",
    "MAX_TEXT_CHARS",
    "ROLES",
    "TIE",
    "PayloadError",
    "attention_check_passed",
    "check_json",
    "check_text",
    "completion_messages",
    "expected_contains",
    "field_name",
    "generation_field",
    "loads",
    "mapping_field",
    "no_unknown",
    "reply_text",
    "rubric_or_default",
    "sources_field",
    "text_field",
    "top_choice",
    "validate_attribute_schema",
    "validate_attributes",
    "validate_context",
    "validate_expected",
    "validate_item",
    "validate_item_payload",
    "validate_rating_scale",
    "validate_response",
    "validate_rubric",
    "validate_target_marginals",
    "whole_number",
]
