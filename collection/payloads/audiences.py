"""An audience's attribute schema and target marginals, and a member's attributes."""

from __future__ import annotations

import math
from typing import Any

from collection.payloads.fields import (
    MAX_ID_CHARS,
    PayloadError,
    mapping_field,
    no_unknown,
    text_field,
)


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
