"""Single-response ratings in releases: scores per rubric attribute, as KTO rows and targets."""

from __future__ import annotations

from aggregation.metrics.document import rating_kind_metrics
from aggregation.release.datasets import participants, rating_kto, rating_targets
from aggregation.release.kinds.base import ReleaseKind, register


class Rating(ReleaseKind):
    name = "rating"
    datasets = (rating_kto.DATASET, rating_targets.DATASET, participants.DATASET)
    card_tags = ("rating", "kto", "reward-modeling")
    judgement_columns = {"scores": "(r.payload->'scores')::text"}
    # The item's one response reads as a one-candidate list (`collection.kinds.rating`),
    # so the tables' candidate columns hold it and `Tally.ratings` counts it.
    candidates = (
        "CASE WHEN jsonb_typeof(i.payload->'response') = 'object' "
        "THEN jsonb_build_array(i.payload->'response') ELSE '[]'::jsonb END"
    )
    measures_agreement = True
    metrics = staticmethod(rating_kind_metrics)


register(Rating())
