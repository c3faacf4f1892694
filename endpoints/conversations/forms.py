"""The researcher's settings form, and reading a judgement out of the turn form."""

from __future__ import annotations

from django import forms

from collection.models import Campaign
from collection.models.conversations import MAX_REPLIES, MAX_TURN_LIMIT, MIN_REPLIES


class SettingsForm(forms.Form):
    endpoint_ids = forms.TypedMultipleChoiceField(
        label="Endpoints that reply",
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="Annotators never see their names; at least two.",
    )
    replies_per_turn = forms.IntegerField(
        label="Replies per turn", min_value=MIN_REPLIES, max_value=MAX_REPLIES, initial=2
    )
    turn_limit = forms.IntegerField(
        label="Turn limit", min_value=1, max_value=MAX_TURN_LIMIT, initial=5
    )
    arena = forms.BooleanField(
        label="Arena: the participant's own prompt, two endpoints per battle, balanced pairs",
        required=False,
    )
    max_calls_in_flight = forms.IntegerField(
        label="Model calls in flight at once (whole campaign)",
        min_value=1,
        max_value=256,
        initial=8,
    )
    token_budget = forms.IntegerField(
        label="Token budget",
        min_value=1,
        required=False,
        help_text="Prompt and reply tokens the campaign may spend; empty for no limit. "
        "When it is spent the campaign pauses.",
    )

    def __init__(self, *args, endpoints, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint_ids"].choices = [
            (endpoint.pk, f"{endpoint.name} ({endpoint.model})") for endpoint in endpoints
        ]


def judgement_from(post, *, campaign: Campaign, shown: list[str] | None = None) -> dict:
    """The judgement the turn form sends, in the campaign's format, as the service takes
    it (it checks everything against the replies shown; missing parts come through
    empty). Without ``shown``, the replies the form names (of "a" to "d")."""
    if shown is None:
        shown = [
            reply_id
            for reply_id in "abcd"[:MAX_REPLIES]
            if f"rank_{reply_id}" in post or f"rating_{reply_id}" in post
        ]
    if campaign.preference_format == Campaign.PreferenceFormat.CHOICE:
        return {"choice": post.get("choice", "")}
    if campaign.preference_format == Campaign.PreferenceFormat.RANKING:
        ranks = {}
        for reply_id in shown:
            try:
                ranks[reply_id] = int(post.get(f"rank_{reply_id}", ""))
            except ValueError:
                ranks[reply_id] = None
        placed = sorted((rank, reply_id) for reply_id, rank in ranks.items() if rank is not None)
        if len(placed) != len(shown) or len({rank for rank, _ in placed}) != len(shown):
            return {"ranking": []}
        return {"ranking": [reply_id for _, reply_id in placed]}
    return {"ratings": {reply_id: post.get(f"rating_{reply_id}", "") for reply_id in shown}}
