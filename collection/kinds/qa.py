"""Question answering: a question (by default the prompt), an optional reference answer
and sources; the annotator answers and may cite sources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from rest_framework import serializers

from collection import kinds
from collection.forms import ResponseForm, text_widget, unix_newlines
from collection.models import Campaign, Item, Response
from collection.payloads import (
    MAX_PROMPT_CHARS,
    MAX_SHORT_CHARS,
    MAX_SOURCES,
    MAX_TEXT_CHARS,
    no_unknown,
    sources_field,
    text_field,
)


class QuestionAnswering(kinds.Kind):
    name = "qa"
    label = "Question–answer"
    competence = Campaign.Competence.KNOWLEDGE
    template_name = "collection/kinds/qa.html"
    answer_text_key = "answer"

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"question", "reference_answer", "sources"}, "payload")
        result = {
            "question": text_field(
                payload.get("question"), "payload.question", limit=MAX_PROMPT_CHARS
            )
        }
        reference = text_field(
            payload.get("reference_answer"),
            "payload.reference_answer",
            limit=MAX_TEXT_CHARS,
            required=False,
        )
        if reference:
            result["reference_answer"] = reference
        sources = sources_field(payload.get("sources"), "payload.sources")
        if sources:
            result["sources"] = sources
        return result

    def item_prompt(self, prompt: Any, payload: dict) -> Any:
        return prompt or payload["question"]

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"answer", "sources", "rationale", "confidence"}, "")
        result: dict[str, Any] = {
            "answer": text_field(payload.get("answer"), "answer", limit=MAX_TEXT_CHARS)
        }
        sources = sources_field(payload.get("sources"), "sources")
        if sources:
            result["sources"] = sources
        return result

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        return {
            "answer": forms.CharField(
                label="Your answer",
                required=False,
                strip=False,
                widget=text_widget(8, MAX_TEXT_CHARS),
            ),
            "sources": forms.CharField(
                label="Sources (optional, one per line)",
                required=False,
                widget=text_widget(3, MAX_SHORT_CHARS * MAX_SOURCES),
            ),
        }

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        payload = {"answer": unix_newlines(data.get("answer", ""))}
        sources = [line.strip() for line in data.get("sources", "").splitlines()]
        if any(sources):
            payload["sources"] = [source for source in sources if source]
        return payload

    def annotator_fields(self) -> dict[str, serializers.Field]:
        return {"question": serializers.CharField(required=False)}

    def annotator_item(self, item: Item) -> dict:
        return {"question": item.payload["question"]} if item.payload.get("question") else {}

    def summary(self, response: Response) -> list[tuple[str, str]]:
        payload = response.payload
        summary: list[tuple[str, str]] = []
        if "answer" in payload:
            summary.append(("Answer", kinds.excerpt(payload["answer"], 200)))
        if payload.get("sources"):
            summary.append(("Sources", ", ".join(kinds.excerpt(s, 60) for s in payload["sources"])))
        return summary


kinds.register(QuestionAnswering())
