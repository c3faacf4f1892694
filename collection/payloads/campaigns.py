"""A campaign's rating rules: its rating scale and the rubric a rating campaign scores."""

from __future__ import annotations

import re
from typing import Any

from collection.payloads.fields import (
    MAX_RATING_POINTS,
    PayloadError,
    mapping_field,
    no_unknown,
    text_field,
)


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
