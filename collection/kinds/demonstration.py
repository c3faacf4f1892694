"""Demonstrations: the annotator writes the response, optionally starting from a draft."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from rest_framework import serializers

from collection import kinds
from collection.forms import ResponseForm, text_widget, unix_newlines
from collection.models import Campaign, Item, Response
from collection.payloads import MAX_TEXT_CHARS, PayloadError, no_unknown, text_field

CONFIRM = "confirm_unchanged"


def _unchanged(text: str, item_payload: dict) -> bool:
    draft = item_payload.get("draft") or ""
    return bool(draft.strip()) and text.strip() == draft.strip()


class Demonstration(kinds.Kind):
    name = "demonstration"
    label = "Demonstration"
    competence = Campaign.Competence.SKILL
    answer_text_key = "text"
    reviewed = True

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"draft"}, "payload")
        draft = text_field(
            payload.get("draft"), "payload.draft", limit=MAX_TEXT_CHARS, required=False
        )
        return {"draft": draft} if draft else {}

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"text", "rationale", "confidence", CONFIRM}, "")
        text = text_field(payload.get("text"), "text", limit=MAX_TEXT_CHARS)
        confirmed = payload.get(CONFIRM, False)
        if not isinstance(confirmed, bool):
            raise PayloadError(CONFIRM, "Must be true or false.")
        # The draft sent back untouched is more often a slip than a demonstration.
        if _unchanged(text, item_payload) and not confirmed:
            raise PayloadError(
                "text",
                "This is the draft exactly as it was given. Edit it, or confirm that you "
                f"want to submit it unchanged ({CONFIRM}: true).",
            )
        return {"text": text}

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        fields = {
            "text": forms.CharField(
                label="Your response",
                required=False,
                strip=False,
                initial=form.item.payload.get("draft", ""),
                widget=text_widget(12, MAX_TEXT_CHARS),
            )
        }
        # Asked only once an answer came back as the untouched draft.
        sent = unix_newlines(form.data.get("text", "")) if form.is_bound else None
        if sent is not None and _unchanged(sent, form.item.payload):
            fields[CONFIRM] = forms.BooleanField(
                label="Yes, submit the draft unchanged: it is the reply I would want",
                required=False,
            )
        return fields

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        payload = {"text": unix_newlines(data.get("text", ""))}
        if data.get(CONFIRM):
            payload[CONFIRM] = True
        return payload

    def annotator_fields(self) -> dict[str, serializers.Field]:
        return {"draft": serializers.CharField(required=False)}

    def annotator_item(self, item: Item) -> dict:
        return {"draft": item.payload["draft"]} if item.payload.get("draft") else {}

    def summary(self, response: Response) -> list[tuple[str, str]]:
        if "text" not in response.payload:
            return []
        return [("Response", kinds.excerpt(response.payload["text"], 200))]


kinds.register(Demonstration())
