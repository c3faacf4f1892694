"""Demonstrations: the annotator writes the response, optionally starting from a draft."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms

from collection import kinds
from collection.forms import ResponseForm, text_widget, unix_newlines
from collection.models import Campaign, Item, Response
from collection.payloads import MAX_TEXT_CHARS, no_unknown, text_field


class Demonstration(kinds.Kind):
    name = "demonstration"
    label = "Demonstration"
    competence = Campaign.Competence.SKILL
    answer_text_key = "text"

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"draft"}, "payload")
        draft = text_field(
            payload.get("draft"), "payload.draft", limit=MAX_TEXT_CHARS, required=False
        )
        return {"draft": draft} if draft else {}

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"text", "rationale", "confidence"}, "")
        return {"text": text_field(payload.get("text"), "text", limit=MAX_TEXT_CHARS)}

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        return {
            "text": forms.CharField(
                label="Your response",
                required=False,
                strip=False,
                initial=form.item.payload.get("draft", ""),
                widget=text_widget(12, MAX_TEXT_CHARS),
            )
        }

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        return {"text": unix_newlines(data.get("text", ""))}

    def annotator_item(self, item: Item) -> dict:
        return {"draft": item.payload["draft"]} if item.payload.get("draft") else {}

    def summary(self, response: Response) -> list[tuple[str, str]]:
        if "text" not in response.payload:
            return []
        return [("Response", kinds.excerpt(response.payload["text"], 200))]


kinds.register(Demonstration())
