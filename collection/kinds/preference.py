"""Preferences: the better of two responses, a ranking of up to nine, or ratings.

The item carries 2..9 candidate responses (each with an optional source label and,
when a model wrote it, how it was generated); the campaign's preference format
says whether the annotator picks one (or a tie), ranks them all, or rates each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from rest_framework import serializers

from collection import kinds
from collection.forms import LETTERS, ResponseForm, as_position, display_order
from collection.models import Assignment, Campaign, Item, Response
from collection.payloads import (
    MAX_CANDIDATES,
    MAX_ID_CHARS,
    TIE,
    PayloadError,
    completion_messages,
    generation_field,
    mapping_field,
    no_unknown,
    reply_text,
    text_field,
    whole_number,
)


def _reply(candidate: Mapping, field: str) -> dict:
    """A candidate's text (an empty reply is kept as one) and, for a completion that
    goes on past its first reply, its messages; the text is then the first message's."""
    messages = candidate.get("messages")
    if messages is None:
        return {"text": reply_text(candidate.get("text"), f"{field}.text")}
    messages = completion_messages(messages, f"{field}.messages")
    text = candidate.get("text", messages[0]["content"])
    if text != messages[0]["content"]:
        raise PayloadError(f"{field}.text", "Must be the content of the first message.")
    return {"text": text, "messages": messages}


class Preference(kinds.Kind):
    name = "preference"
    label = "Preference"
    competence = Campaign.Competence.BEHAVIOUR
    template_name = "collection/kinds/preference.html"
    field_labels = {"choice": "Your choice", "ranking": "Ranking", "ratings": "Ratings"}
    has_candidates = True

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        preference_format, prompts_only = rules.preference_format, rules.prompts_only
        no_unknown(payload, {"candidates"}, "payload")
        candidates = payload.get("candidates")
        if prompts_only and candidates in (None, []):
            candidates = []
        if not isinstance(candidates, list) or (len(candidates) < 2 and not prompts_only):
            raise PayloadError("payload.candidates", "Give at least two candidate responses.")
        if len(candidates) > MAX_CANDIDATES:
            raise PayloadError("payload.candidates", f"At most {MAX_CANDIDATES} candidates.")
        if preference_format == "choice" and (
            len(candidates) > 2 if prompts_only else len(candidates) != 2
        ):
            raise PayloadError(
                "payload.candidates",
                f"This campaign picks the better of two; got {len(candidates)} candidates.",
            )
        clean, seen = [], set()
        for i, candidate in enumerate(candidates):
            field = f"payload.candidates.{i}"
            if isinstance(candidate, str):
                candidate = {"text": candidate}
            candidate = mapping_field(candidate, field)
            no_unknown(candidate, {"id", "text", "source", "generation", "messages"}, field)
            candidate_id = candidate.get("id", "abcdefghi"[i])
            candidate_id = text_field(str(candidate_id), f"{field}.id", limit=MAX_ID_CHARS)
            if candidate_id == TIE:
                raise PayloadError(f"{field}.id", f"{TIE!r} is reserved for ties.")
            if candidate_id in seen:
                raise PayloadError(f"{field}.id", f"Candidate id {candidate_id!r} appears twice.")
            seen.add(candidate_id)
            entry = {"id": candidate_id, **_reply(candidate, field)}
            source = text_field(
                candidate.get("source"), f"{field}.source", limit=200, required=False
            )
            if source:
                entry["source"] = source
            if candidate.get("generation") is not None:
                entry["generation"] = generation_field(
                    candidate["generation"], f"{field}.generation"
                )
            clean.append(entry)
        return {"candidates": clean}

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        """``{"choice": id}`` (the better of two, or ``"tie"``) or ``{"top": id}`` (ranked
        first, or rated highest)."""
        ids = {candidate["id"] for candidate in payload["candidates"]}
        no_unknown(expected, {"choice", "top"}, "expected")
        if len(expected) != 1:
            raise PayloadError("expected", "Give exactly one of choice or top.")
        key, value = next(iter(expected.items()))
        allowed = ids | {TIE} if key == "choice" else ids
        if value not in allowed:
            raise PayloadError(f"expected.{key}", f"Must be one of {', '.join(sorted(allowed))}.")
        return {key: value}

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        preference_format, rating_scale = rules.preference_format, rules.rating_scale
        result: dict[str, Any] = {}
        ids = [candidate["id"] for candidate in item_payload["candidates"]]
        no_unknown(payload, {"choice", "ranking", "ratings", "rationale", "confidence"}, "")
        if preference_format == "choice":
            choice = payload.get("choice")
            if choice in (None, ""):
                raise PayloadError("choice", "Pick one of the responses, or a tie.")
            if choice not in [*ids, TIE]:
                raise PayloadError("choice", f"Must be one of {', '.join([*ids, TIE])}.")
            result["choice"] = choice
        elif preference_format == "ranking":
            ranking = payload.get("ranking")
            if not isinstance(ranking, list) or not ranking:
                raise PayloadError("ranking", "Order all the responses, best first.")
            if sorted(map(str, ranking)) != sorted(ids) or len(ranking) != len(ids):
                raise PayloadError(
                    "ranking", f"Must list each of {', '.join(ids)} exactly once, best first."
                )
            result["ranking"] = [str(candidate_id) for candidate_id in ranking]
        ratings = payload.get("ratings")
        if preference_format == "rating" and not ratings:
            raise PayloadError("ratings", "Rate every response.")
        if ratings:
            if rating_scale is None:
                raise PayloadError("ratings", "This campaign does not collect ratings.")
            ratings = mapping_field(ratings, "ratings")
            no_unknown(ratings, set(ids), "ratings")
            missing = [candidate_id for candidate_id in ids if candidate_id not in ratings]
            if missing:
                raise PayloadError(f"ratings.{missing[0]}", "Rate every response.")
            result["ratings"] = {
                candidate_id: whole_number(
                    ratings[candidate_id], f"ratings.{candidate_id}", *rating_scale
                )
                for candidate_id in ids
            }
        return result

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {
            "choice": forms.CharField(required=False, widget=forms.HiddenInput)
        }
        if form.campaign.preference_format == Campaign.PreferenceFormat.RANKING:
            positions = [("", "—"), *((n, n) for n in range(1, len(form.candidates) + 1))]
            for shown, index in enumerate(form.order, start=1):
                fields[f"rank_{index}"] = forms.ChoiceField(
                    label=f"Rank of response {LETTERS[shown - 1]}",
                    choices=positions,
                    required=False,
                    initial=shown,
                )
        if form.campaign.rating_scale:
            low, high = form.campaign.rating_scale
            for shown, index in enumerate(form.order):
                fields[f"rating_{index}"] = forms.ChoiceField(
                    label=f"Rating of response {LETTERS[shown]}",
                    choices=[(n, n) for n in range(low, high + 1)],
                    required=False,
                    widget=forms.RadioSelect,
                )
        return fields

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        payload: dict[str, Any] = {}
        fmt = form.campaign.preference_format
        if fmt == Campaign.PreferenceFormat.CHOICE:
            payload["choice"] = data.get("choice", "")
        elif fmt == Campaign.PreferenceFormat.RANKING:
            payload["ranking"] = _ranking(form)
        ratings = {
            form.candidates[index]["id"]: data[f"rating_{index}"]
            for index in range(len(form.candidates))
            if data.get(f"rating_{index}") not in (None, "")
        }
        if ratings or fmt == Campaign.PreferenceFormat.RATING:
            payload["ratings"] = ratings
        return payload

    def annotate_context(self, form: ResponseForm) -> dict:
        return {"rows": _candidate_rows(form)}

    def annotator_fields(self) -> dict[str, serializers.Field]:
        return {"candidates": serializers.ListField(child=serializers.DictField(), required=False)}

    def annotator_item(self, item: Item) -> dict:
        if "candidates" not in item.payload:
            return {}
        return {
            "candidates": [
                {"id": c["id"], "text": c["text"]}
                | ({"messages": c["messages"]} if "messages" in c else {})
                for c in item.candidates
            ]
        }

    def summary(self, response: Response) -> list[tuple[str, str]]:
        payload, item = response.payload, response.item
        candidates = {candidate["id"]: candidate["text"] for candidate in item.candidates}
        shown = {}
        if response.assignment_id and item.candidates:
            # Name candidates by the letters this person saw them under.
            order = display_order(Assignment(pk=response.assignment_id, item=item))
            shown = {item.candidates[index]["id"]: LETTERS[n] for n, index in enumerate(order)}

        def name(candidate_id: str) -> str:
            letter = shown.get(candidate_id, candidate_id)
            return f"{letter} (“{kinds.excerpt(candidates.get(candidate_id, ''), 50)}”)"

        summary: list[tuple[str, str]] = []
        if "choice" in payload:
            choice = payload["choice"]
            summary.append(("Choice", "a tie" if choice == "tie" else name(choice)))
        if "ranking" in payload:
            summary.append(("Ranking", " › ".join(shown.get(c, c) for c in payload["ranking"])))
        if "ratings" in payload:
            summary.append(
                (
                    "Ratings",
                    ", ".join(
                        f"{shown.get(c, c)}: {value}" for c, value in payload["ratings"].items()
                    ),
                )
            )
        return summary


def _candidate_rows(form: ResponseForm) -> list[dict[str, Any]]:
    """The candidates in display order, with their letter, key and fields."""
    rows = []
    for shown, index in enumerate(form.order):
        candidate = form.candidates[index]
        rows.append(
            {
                "letter": LETTERS[shown],
                "key": shown + 1,
                "id": candidate["id"],
                "text": candidate["text"],
                "messages": candidate.get("messages"),
                "rank": form[f"rank_{index}"] if f"rank_{index}" in form.fields else None,
                "rating": form[f"rating_{index}"] if f"rating_{index}" in form.fields else None,
            }
        )
    if form.is_bound and form.campaign.preference_format == Campaign.PreferenceFormat.RANKING:
        # Show a refused ranking in the order the annotator put it, not as first dealt.
        rows.sort(key=lambda row: as_position(row["rank"].value(), len(rows)))
    return rows


def _ranking(form: ResponseForm) -> list[str]:
    """Candidate ids best first, from one rank per candidate.

    A position no candidate claims (or two claim) stays an empty string, so a
    rank list that is not a permutation reaches the payload validator as an
    invalid ranking instead of being silently repaired by sorting.
    """
    size = len(form.candidates)
    by_position = [""] * size
    for index, candidate in enumerate(form.candidates):
        position = as_position(form.cleaned_data.get(f"rank_{index}"), size)
        if position < size:
            by_position[position] = "" if by_position[position] else candidate["id"]
    return by_position


kinds.register(Preference())
