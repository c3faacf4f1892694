"""The derived datasets of a release, one module each.

A dataset declares the columns it adds to the ones every file starts with
(`tables.common_columns`), how its Arrow table is built from one audience's part of a
chunk, what it counts for the metrics while the chunk is at hand, its lines of the
dataset card, and its OpenAI form if it has one (written when the export asks for the
``openai`` format). Which campaigns it applies to is its item kind's to say: a kind
lists its datasets in file order (`aggregation.release.kinds`), and the pipeline walks
that list, never branching on the kind. A new dataset is a module here, listed by its
kind. A dataset may declare named splits (one file per split, one config) or be
written once per audience after the pass (`Dataset.finish`), and the pluralistic
views share a `Views` across the chunks of one build.

`Part` holds one audience's judgements of one chunk and what several datasets derive
from them (pairs, votes, ratings), each computed once, when first asked for."""

from __future__ import annotations

from aggregation.release.datasets.base import Dataset, Final, Part, Views

__all__ = ["Dataset", "Final", "Part", "Views"]
