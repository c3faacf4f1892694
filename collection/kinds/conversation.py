"""Conversations: a participant chats with the campaign's models and judges every turn.

An item is a *seed*: an opening prompt (``"opening": "given"``, the item's prompt is the
first message, which the participant may edit before sending), or a free opening
(``"opening": "free"``, the prompt is only an invitation shown above an empty box; arena
campaigns treat every seed so). A seed may carry a system prompt
(``payload.system_prompt``) and, as any item, a persona, a situation or earlier
messages in its context; the models see them, before each endpoint's own system prompt.

The conversation itself runs on its own page (`endpoints/conversations/`): the engine
leases the seed, the turns are `collection.models.Turn` rows, and the answer this kind
checks is the closing one: a rating of the whole conversation on the campaign's rating
scale (1 to 5 without one) and, when the campaign asks, a rationale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from collection import kinds
from collection.forms import ResponseForm
from collection.models import Campaign, Response
from collection.payloads import MAX_SHORT_CHARS, PayloadError, no_unknown, text_field, whole_number

OPENINGS = ("given", "free")
DEFAULT_SCALE = (1, 5)
FREE_INVITATION = "Start the conversation with a message of your own."


def closing_scale(campaign: Campaign) -> tuple[int, int]:
    return campaign.rating_scale or DEFAULT_SCALE


class Conversation(kinds.Kind):
    name = "conversation"
    label = "Conversation with models"
    competence = Campaign.Competence.BEHAVIOUR
    annotate_url_name = "conversation_page"
    field_labels = {"rating": "Your rating of the conversation"}

    def validate_payload(self, payload: Mapping, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"opening", "system_prompt"}, "payload")
        opening = payload.get("opening", "given")
        if opening not in OPENINGS:
            raise PayloadError("payload.opening", f"Must be one of {', '.join(OPENINGS)}.")
        result: dict[str, Any] = {"opening": opening}
        system_prompt = text_field(
            payload.get("system_prompt"),
            "payload.system_prompt",
            limit=MAX_SHORT_CHARS,
            required=False,
        )
        if system_prompt:
            result["system_prompt"] = system_prompt
        return result

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        raise PayloadError("expected", "Conversation campaigns have no attention checks.")

    def item_prompt(self, prompt: Any, payload: dict) -> Any:
        if payload["opening"] == "free" and prompt in (None, ""):
            return FREE_INVITATION
        return prompt

    def validate_response(self, payload: Mapping, item_payload: dict, rules: kinds.Rules) -> dict:
        no_unknown(payload, {"rating", "rationale", "confidence"}, "")
        if payload.get("rating") in (None, ""):
            raise PayloadError("rating", "Rate the whole conversation.")
        low, high = rules.rating_scale or DEFAULT_SCALE
        return {"rating": whole_number(payload["rating"], "rating", low, high)}

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        low, high = closing_scale(form.campaign)
        return {
            "rating": forms.ChoiceField(
                label="Your rating of the whole conversation",
                choices=[(n, n) for n in range(low, high + 1)],
                widget=forms.RadioSelect,
            )
        }

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        return {"rating": data.get("rating", "")}

    def summary(self, response: Response) -> list[tuple[str, str]]:
        if "rating" not in response.payload:
            return []
        return [("Rating of the conversation", str(response.payload["rating"]))]


def validate_judgement(
    judgement, *, shown: list[str], preference_format: str, rating_scale: tuple[int, int] | None
) -> dict:
    """A turn's judgement over the replies shown (ids, in the order shown), in the
    campaign's format: ``{"choice": id}`` (the best of them; no ties, since one reply
    must carry the conversation on), ``{"ranking": [every id, best first]}`` or
    ``{"ratings": {id: n}}`` on the campaign's scale. Raises PayloadError."""
    if len(shown) < 2:
        raise PayloadError("judgement", "At least two replies are needed to judge a turn.")
    if not isinstance(judgement, Mapping):
        raise PayloadError("judgement", "Must be an object.")
    if preference_format == Campaign.PreferenceFormat.CHOICE:
        no_unknown(judgement, {"choice"}, "judgement")
        choice = judgement.get("choice")
        if choice in (None, ""):
            raise PayloadError("choice", "Pick the reply you prefer.")
        if choice not in shown:
            raise PayloadError("choice", "Pick one of the replies shown.")
        return {"choice": choice}
    if preference_format == Campaign.PreferenceFormat.RANKING:
        no_unknown(judgement, {"ranking"}, "judgement")
        ranking = judgement.get("ranking")
        if (
            not isinstance(ranking, list)
            or len(ranking) != len(shown)
            or sorted(map(str, ranking)) != sorted(shown)
        ):
            raise PayloadError("ranking", "Give every reply its own rank, best first.")
        return {"ranking": [str(reply_id) for reply_id in ranking]}
    no_unknown(judgement, {"ratings"}, "judgement")
    ratings = judgement.get("ratings")
    if not isinstance(ratings, Mapping):
        raise PayloadError("ratings", "Rate every reply.")
    no_unknown(ratings, set(shown), "ratings")
    low, high = rating_scale or DEFAULT_SCALE
    clean = {}
    for reply_id in shown:
        if ratings.get(reply_id) in (None, ""):
            raise PayloadError(f"ratings.{reply_id}", "Rate every reply.")
        clean[reply_id] = whole_number(ratings[reply_id], f"ratings.{reply_id}", low, high)
    return {"ratings": clean}


def continuing_reply(judgement: dict, shown: list[str]) -> str:
    """The reply that carries the conversation on: the choice, the first ranked, or the
    highest rated (of equal ratings, the one shown first)."""
    if "choice" in judgement:
        return judgement["choice"]
    if "ranking" in judgement:
        return judgement["ranking"][0]
    ratings = judgement["ratings"]
    best = max(ratings.values())
    return next(reply_id for reply_id in shown if ratings[reply_id] == best)


kinds.register(Conversation())
