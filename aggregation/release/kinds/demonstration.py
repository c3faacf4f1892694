"""Demonstrations in releases: the written responses, for supervised fine-tuning."""

from __future__ import annotations

from aggregation.release.datasets import demonstrations, participants
from aggregation.release.kinds.base import ReleaseKind, register


class Demonstration(ReleaseKind):
    name = "demonstration"
    datasets = (demonstrations.DATASET, participants.DATASET)
    card_tags = ("sft", "demonstrations")
    judgement_columns = {"text": "r.payload->>'text'"}


register(Demonstration())
