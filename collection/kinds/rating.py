"""Single-response ratings: one response to a prompt, scored on the campaign's scale.

The item is a prompt and one response (with an optional source label, such as the
model that wrote it). The annotator gives it one score per attribute of the
campaign's rubric, every attribute on the campaign's one scale: HelpSteer2 (Wang et
al., 2024, arXiv:2406.08673, §2) rates helpfulness, correctness, coherence, complexity
and verbosity from 0 to 4. A campaign without a rubric asks for one overall score (a
Likert rating). Releases turn the scores into KTO rows and per-attribute regression
targets (`aggregation.release.datasets.rating_kto`, `rating_targets`).

A response is stored as ``{"scores": {attribute: score}}``; a client may send
``{"score": n}`` when the campaign scores one attribute.

An imported response may carry the scores its dataset already gave it
(``source_scores``: HelpSteer2's own annotators' five), kept for comparison and never
shown to annotators. An item imported prompts-only has no response yet
(``{"candidates": []}``): a generation job writes its one response, and until then it
is not served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from rest_framework import serializers

from collection import kinds
from collection.forms import ResponseForm
from collection.models import Campaign, Item, Response
from collection.payloads import (
    DEFAULT_RUBRIC,
    MAX_INT,
    MAX_TEXT_CHARS,
    PayloadError,
    generation_field,
    mapping_field,
    no_unknown,
    rubric_or_default,
    text_field,
    whole_number,
)

# HelpSteer2's attributes as its paper defines them (Wang et al., 2024, §2), each 0-4.
HELPSTEER2_RUBRIC = [
    {"name": "helpfulness", "description": "Overall helpfulness of the response to the prompt."},
    {"name": "correctness", "description": "Inclusion of all pertinent facts without errors."},
    {"name": "coherence", "description": "Consistency and clarity of expression."},
    {"name": "complexity", "description": "Intellectual depth required to write the response."},
    {"name": "verbosity", "description": "Amount of detail relative to what the prompt asks."},
]
# Rubrics a researcher can name instead of writing them out (`manage.py reannotate
# --rubric helpsteer2`): the campaign fields each sets.
RUBRICS = {"helpsteer2": {"rating_min": 0, "rating_max": 4, "rating_rubric": HELPSTEER2_RUBRIC}}
MAX_SOURCE_SCORES = 20


def _source_scores(value: Any, field: str) -> dict:
    value = mapping_field(value, field)
    if len(value) > MAX_SOURCE_SCORES:
        raise PayloadError(field, f"At most {MAX_SOURCE_SCORES} scores.")
    clean = {}
    for name, score in value.items():
        text_field(name, field, limit=100)
        if not isinstance(score, int | float) or isinstance(score, bool) or score != score:
            raise PayloadError(f"{field}.{name}", "Must be a number.")
        if abs(score) > MAX_INT:
            raise PayloadError(f"{field}.{name}", f"At most {MAX_INT} either side of 0.")
        clean[name] = score
    return clean


def _response(value: Any, field: str) -> dict:
    if isinstance(value, str):
        value = {"text": value}
    value = mapping_field(value, field)
    no_unknown(value, {"id", "text", "source", "generation", "source_scores"}, field)
    response = {"text": text_field(value.get("text"), f"{field}.text", limit=MAX_TEXT_CHARS)}
    source = text_field(value.get("source"), f"{field}.source", limit=200, required=False)
    if source:
        response["source"] = source
    if value.get("generation") is not None:
        response["generation"] = generation_field(value["generation"], f"{field}.generation")
    if value.get("source_scores") is not None:
        response["source_scores"] = _source_scores(value["source_scores"], f"{field}.source_scores")
    return response


def form_field_name(attribute: str) -> str:
    return f"scores_{attribute}"


class Rating(kinds.Kind):
    name = "rating"
    label = "Rating (one response)"
    competence = Campaign.Competence.BEHAVIOUR
    template_name = "collection/kinds/rating.html"
    scores_rubric = True
    field_labels = {"scores": "Scores", "score": "Score"}
    generated_responses = 1

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        """``{"response": text or {"text", "source"}}``; the single entry of ``candidates``
        is taken as the response too, so files written for preference campaigns (the
        CSV's ``candidate_a``/``source_a`` columns) import as they are."""
        no_unknown(payload, {"response", "candidates"}, "payload")
        if "response" in payload and "candidates" in payload:
            raise PayloadError("payload.candidates", "Give either response or candidates.")
        if "candidates" in payload:
            candidates = payload["candidates"]
            if rules.prompts_only and candidates == []:
                return {"candidates": []}  # awaiting its generated response
            if not isinstance(candidates, list) or len(candidates) != 1:
                count = len(candidates) if isinstance(candidates, list) else "no list of"
                raise PayloadError(
                    "payload.candidates",
                    f"A rating item has exactly one response; got {count} candidates.",
                )
            return {"response": _response(candidates[0], "payload.candidates.0")}
        if payload.get("response") is None:
            if rules.prompts_only:
                return {"candidates": []}
            raise PayloadError("payload.response", "Give the response to be rated.")
        return {"response": _response(payload["response"], "payload.response")}

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        """``{"min": n}`` and/or ``{"max": n}``: every score must lie within the bounds
        (an obviously bad response rated ``{"max": 1}``, say)."""
        no_unknown(expected, {"min", "max"}, "expected")
        if not expected:
            raise PayloadError("expected", "Give min, max or both.")
        clean = {
            key: whole_number(expected[key], f"expected.{key}", -MAX_INT, MAX_INT)
            for key in ("min", "max")
            if key in expected
        }
        if clean.get("min", -MAX_INT) > clean.get("max", MAX_INT):
            raise PayloadError("expected.max", "Must not be below min.")
        return clean

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"score", "scores", "rationale", "confidence"}, "")
        names = rules.rubric or tuple(attribute["name"] for attribute in DEFAULT_RUBRIC)
        if rules.rating_scale is None:
            raise PayloadError("scores", "This campaign has no rating scale.")
        scores = payload.get("scores")
        if "score" in payload:
            if len(names) > 1 or scores is not None:
                raise PayloadError(
                    "score", f"Send scores, one for each of {', '.join(names)}, instead."
                )
            scores = {names[0]: payload["score"]}
        if scores is None:
            field = "score" if len(names) == 1 else "scores"
            raise PayloadError(field, f"Rate the response on {', '.join(names)}.")
        scores = mapping_field(scores, "scores")
        no_unknown(scores, set(names), "scores")
        low, high = rules.rating_scale
        result = {}
        for name in names:
            if scores.get(name) in (None, ""):
                raise PayloadError(f"scores.{name}", "Give a score.")
            result[name] = whole_number(scores[name], f"scores.{name}", low, high)
        return {"scores": result}

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        low, high = form.campaign.rating_scale or (1, 5)
        return {
            form_field_name(attribute["name"]): forms.ChoiceField(
                label=attribute["label"],
                help_text=attribute.get("description", ""),
                choices=[(n, n) for n in range(low, high + 1)],
                required=False,
                widget=forms.RadioSelect,
            )
            for attribute in form.campaign.rubric
        }

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        # Always a mapping, so an unrated attribute is named by the validator.
        return {
            "scores": {
                attribute["name"]: data[form_field_name(attribute["name"])]
                for attribute in form.campaign.rubric
                if data.get(form_field_name(attribute["name"])) not in (None, "")
            }
        }

    def annotate_context(self, form: ResponseForm) -> dict:
        low, high = form.campaign.rating_scale or (1, 5)
        return {
            "response": form.item.payload.get("response", {}),
            "scale_low": low,
            "scale_high": high,
            "score_fields": [form[form_field_name(a["name"])] for a in form.campaign.rubric],
        }

    def annotator_fields(self) -> dict[str, serializers.Field]:
        """The response, what to score it on and the scale."""
        return {
            "response": serializers.DictField(required=False),
            "rubric": serializers.ListField(child=serializers.DictField(), required=False),
            "scale": serializers.ListField(child=serializers.IntegerField(), required=False),
        }

    def annotator_item(self, item: Item) -> dict:
        campaign = item.campaign
        return {
            "response": {"text": item.payload.get("response", {}).get("text", "")},
            "rubric": [
                {"name": a["name"], "label": a["label"], "description": a.get("description", "")}
                for a in campaign.rubric
            ],
            "scale": list(campaign.rating_scale or ()),
        }

    def summary(self, response: Response) -> list[tuple[str, str]]:
        scores = response.payload.get("scores") or {}
        if not scores:
            return []
        rubric = rubric_or_default(response.campaign.rating_rubric)
        labels = {attribute["name"]: attribute["label"] for attribute in rubric}
        order = [a["name"] for a in rubric if a["name"] in scores]
        order += [name for name in scores if name not in labels]
        text = response.item.payload.get("response", {}).get("text", "")
        scale = response.campaign.rating_scale
        on = f" (scale {scale[0]}–{scale[1]})" if scale else ""
        given = ", ".join(f"{labels.get(name, name)} {scores[name]}" for name in order)
        return [("Response", f"“{kinds.excerpt(text, 80)}”"), ("Scores", given + on)]


kinds.register(Rating())
