"""The one error shape every API answer uses, and its place in the OpenAPI schema.

Every 4xx body is ``{"detail": str, "code": str}``, with ``"field"`` (a dotted path
such as ``formats.0`` or ``payload.candidates``) when one input is at fault and
``"line"`` for a line of an imported file (and ``"rejected"``, an import's bad
lines). When a request has several bad inputs,
``"errors"`` lists each one in the same shape, the first of them repeated at the top.
DRF's own ``{"formats": {"0": ["..."]}}`` bodies are flattened into this shape.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail

ERROR_SCHEMA = {
    "type": "object",
    "description": __doc__.split("\n\n")[1].replace("\n", " "),
    "properties": {
        "detail": {"type": "string", "description": "What is wrong, in plain words."},
        "code": {"type": "string", "description": "A stable code, e.g. invalid, not_found."},
        "field": {"type": "string", "description": "The input at fault, as a dotted path."},
        "line": {"type": "integer", "description": "The line of an imported file."},
        "rejected": {
            "type": "array",
            "description": "An import's rejected lines, each with its line and field.",
            "items": {"type": "object"},
        },
        "errors": {
            "type": "array",
            "description": "Every bad input, when there are several.",
            "items": {
                "type": "object",
                "properties": {
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "field": {"type": "string"},
                },
                "required": ["detail", "code"],
            },
        },
    },
    "required": ["detail", "code"],
}


def _flatten(detail, path: tuple[str, ...] = ()) -> list[dict]:
    if isinstance(detail, dict):
        return [
            error for key, value in detail.items() for error in _flatten(value, (*path, str(key)))
        ]
    if isinstance(detail, list):
        found = []
        for index, value in enumerate(detail):
            if isinstance(value, str):
                found += _flatten(value, path)
            else:
                found += _flatten(value, (*path, str(index)))
        return found
    entry = {"detail": str(detail), "code": getattr(detail, "code", None) or "invalid"}
    named = [part for part in path if part != "non_field_errors"]
    if named:
        entry["field"] = ".".join(named)
    return [entry]


def error_body(exc: exceptions.APIException) -> dict:
    """The body for a DRF exception, in the one shape."""
    if isinstance(exc.detail, dict) and {"detail", "code"} <= set(exc.detail):
        return {key: str(value) for key, value in exc.detail.items()}  # shaped already
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail) or [{"detail": "Invalid input.", "code": "invalid"}]
        body = dict(errors[0])
        if len(errors) > 1:
            body["errors"] = errors
        return body
    detail = exc.detail
    if isinstance(detail, dict | list):
        return error_body(exceptions.ValidationError(detail))
    code = detail.code if isinstance(detail, ErrorDetail) and detail.code else exc.default_code
    return {"detail": str(detail), "code": code}


def schema_errors_hook(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing: an ``Error`` component, and every 4xx answer of
    every operation described by it."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("400", {"description": "Bad input; names the field."})
            for status, answer in responses.items():
                if str(status).startswith("4"):
                    answer["content"] = {"application/json": {"schema": reference}}
    return result
