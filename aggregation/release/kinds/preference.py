"""Preferences in releases: pairs, ties, votes and the pluralistic views over candidates."""

from __future__ import annotations

from aggregation import selectors
from aggregation.metrics.document import preference_kind_metrics
from aggregation.release import plots
from aggregation.release.datasets import (
    allocation,
    icl_packs,
    kto,
    participants,
    preferences,
    soft_labels,
    split_views,
    ties,
    votes,
)
from aggregation.release.kinds.base import ReleaseKind, register
from collection.models import Campaign


class Preference(ReleaseKind):
    name = "preference"
    datasets = (
        preferences.DATASET,
        ties.DATASET,
        votes.DATASET,
        kto.DATASET,
        split_views.BY_PARTICIPANT,
        split_views.BY_ITEM,
        split_views.HELDOUT,
        soft_labels.DATASET,
        icl_packs.DATASET,
        participants.DATASET,
        allocation.DATASET,
    )
    card_tags = ("preference", "rlhf", "dpo", "reward-modeling")
    candidates = (
        "CASE WHEN jsonb_typeof(i.payload->'candidates') = 'array' "
        "THEN i.payload->'candidates' ELSE '[]'::jsonb END"
    )
    measures_agreement = True
    metrics = staticmethod(preference_kind_metrics)
    plots = (("divergence.png", plots.divergence),)

    def columns(self, campaign: Campaign) -> dict[str, str]:
        """The campaign's one judgement (a choice, or a ranking), and ratings when it has
        a rating scale (`payloads.validate_response` takes none without one)."""
        judged = "ranking" if campaign.preference_format == "ranking" else "choice"
        columns = {judged: selectors.TEXT_SOURCES[judged]}
        if campaign.rating_scale:
            columns["ratings"] = selectors.TEXT_SOURCES["ratings"]
        return columns


register(Preference())
