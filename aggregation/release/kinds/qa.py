"""Question–answer items in releases: the answers and the sources they cite."""

from __future__ import annotations

from aggregation.release.datasets import participants, qa
from aggregation.release.kinds.base import ReleaseKind, register


class QuestionAnswering(ReleaseKind):
    name = "qa"
    datasets = (qa.DATASET, participants.DATASET)
    card_tags = ("question-answering",)
    judgement_columns = {
        "text": "r.payload->>'answer'",
        "sources": "(r.payload->'sources')::text",
    }


register(QuestionAnswering())
