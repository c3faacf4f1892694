"""The collection side of the toy kind: a claim the annotator agrees or disagrees with."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from rest_framework import serializers

from collection import kinds
from collection.models import Campaign
from collection.payloads import PayloadError, no_unknown, text_field

VERDICTS = ("agree", "disagree")


class Verdict(kinds.Kind):
    name = "verdict"
    label = "Verdict on a claim"
    competence = Campaign.Competence.BEHAVIOUR

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"claim"}, "payload")
        return {"claim": text_field(payload.get("claim"), "payload.claim", limit=2000)}

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        raise PayloadError("expected", "Verdicts have no attention checks.")

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"verdict", "rationale", "confidence"}, "")
        if payload.get("verdict") not in VERDICTS:
            raise PayloadError("verdict", "Say agree or disagree.")
        return {"verdict": payload["verdict"]}

    def form_fields(self, form) -> dict[str, forms.Field]:
        return {
            "verdict": forms.ChoiceField(
                label="Do you agree with the claim?",
                choices=[(v, v.capitalize()) for v in VERDICTS],
                required=False,
                widget=forms.RadioSelect,
            )
        }

    def form_payload(self, form, data: dict) -> dict:
        return {"verdict": data.get("verdict", "")}

    def annotator_fields(self) -> dict[str, serializers.Field]:
        return {"claim": serializers.CharField(required=False)}

    def annotator_item(self, item) -> dict:
        return {"claim": item.payload["claim"]}

    def summary(self, response) -> list[tuple[str, str]]:
        return [("Verdict", response.payload["verdict"])]


def register() -> kinds.Kind:
    return kinds.register(Verdict())
