"""The derived datasets of a release, one module each, and the registry the pipeline reads.

A dataset declares when it applies (the campaign's item kind; an OpenAI twin when the
export asks for the ``openai`` format and the dataset has an OpenAI form), the columns
it adds to the ones every file starts with (`tables.common_columns`), how its Arrow
table is built from one audience's part of a chunk, what it counts for the metrics
while the chunk is at hand, and its lines of the dataset card. The pipeline walks
`for_item_kind` and never branches on the kind; a new dataset is a module here and one
entry in `DATASETS`. A dataset may declare named splits (one file per split, one config)
or be written once per audience after the pass (`Dataset.finish`), and the pluralistic
views share a `Views` across the chunks of one build.

`Part` holds one audience's judgements of one chunk and what several datasets derive
from them (pairs, votes, ratings), each computed once, when first asked for.
"""

from __future__ import annotations

from aggregation.release.datasets import (
    conversation_preferences,
    conversation_ratings,
    conversation_sft,
    conversation_ties,
    conversation_trees,
    demonstrations,
    icl_packs,
    kto,
    participants,
    preferences,
    qa,
    rating_kto,
    rating_targets,
    soft_labels,
    split_views,
    ties,
    votes,
)
from aggregation.release.datasets.base import Dataset, Final, Part, Views

__all__ = [
    "BY_NAME",
    "DATASETS",
    "NAMES",
    "Dataset",
    "Final",
    "Part",
    "Views",
    "for_item_kind",
    "names_for",
]

DATASETS: tuple[Dataset, ...] = (
    preferences.DATASET,
    ties.DATASET,
    votes.DATASET,
    kto.DATASET,
    split_views.BY_PARTICIPANT,
    split_views.BY_ITEM,
    split_views.HELDOUT,
    soft_labels.DATASET,
    icl_packs.DATASET,
    demonstrations.DATASET,
    qa.DATASET,
    rating_kto.DATASET,
    rating_targets.DATASET,
    conversation_preferences.DATASET,
    conversation_ties.DATASET,
    conversation_sft.DATASET,
    conversation_ratings.DATASET,
    conversation_trees.DATASET,
    *participants.DATASETS,
)
# A dataset that several item kinds share (participants) has one entry per kind, alike
# but for the kind.
BY_NAME = {dataset.name: dataset for dataset in DATASETS}
NAMES = tuple(BY_NAME)


def for_item_kind(item_kind: str) -> tuple[Dataset, ...]:
    return tuple(dataset for dataset in DATASETS if dataset.item_kind == item_kind)


def names_for(item_kind: str) -> tuple[str, ...]:
    """The datasets an export of a campaign of ``item_kind`` may ask for, in file order."""
    return tuple(dataset.name for dataset in for_item_kind(item_kind))
