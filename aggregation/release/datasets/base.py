"""What a dataset declares (`Dataset`), and the part of a chunk it is built from (`Part`)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyarrow as pa

from aggregation.release import splits, tables
from aggregation.release.tally import Tally


@dataclasses.dataclass
class Views:
    """What one build's pluralistic views share across its chunks: the export's options
    for them, the items on the test side of the split by item, and each view's running
    state per audience (``state[(dataset name, audience position)]``), which a dataset
    keeps bounded (counts per participant, the k best items so far), so memory stays flat."""

    seed: int
    test_percent: int
    context_judgements: int
    icl_examples: int
    min_cell_size: int
    test_items: np.ndarray  # sorted item ids
    # Whether the datasets with named splits are built (`splits.split_views_wanted`).
    split_views: bool = True
    # Per audience position: the held-out people's context judgements, as sorted
    # `aggregation.selectors.judgement_keys` (their first judgements by submission time).
    contexts: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    state: dict = dataclasses.field(default_factory=dict)
    # The release's snapshot, for a dataset that reads rows of its own (`allocation`).
    snapshot_at: datetime | None = None

    @classmethod
    def from_options(cls, options: dict, item_ids: np.ndarray, *, judgements: int) -> Views:
        return cls(
            seed=options["split_seed"],
            test_percent=options["test_percent"],
            context_judgements=options["context_judgements"],
            icl_examples=options["icl_examples"],
            min_cell_size=options["min_cell_size"],
            test_items=splits.items_on_test_side(
                item_ids, seed=options["split_seed"], test_percent=options["test_percent"]
            ),
            split_views=splits.split_views_wanted(options["split_views"], judgements=judgements),
        )


@dataclasses.dataclass
class Part:
    """One audience's judgements (``audience``: its position in the selection) of one chunk
    of items (``start``: the chunk's first item position in the campaign)."""

    audience: int
    start: int
    context: tables.TableContext
    judgements: pa.Table
    items: tables.Items
    item_pos: np.ndarray
    people: tables.PeopleColumns
    preference_format: str
    midpoint: float | None  # of the rating scale; None without one
    rubric: tuple[str, ...] = ()  # single-response ratings: the attributes scored
    # Conversation campaigns: the audience's judged turns of the chunk's conversations
    # (`selectors.TURN_COLUMNS`, in item, participant and turn order); None otherwise.
    turns: pa.Table | None = None
    audience_kind: str = ""
    views: Views | None = None  # None outside a release (metrics only)

    @functools.cached_property
    def pairs(self) -> tables.Pairs:
        return tables.preference_pairs(
            self.judgements, self.items, self.item_pos, self.preference_format
        )

    @functools.cached_property
    def top_votes(self) -> np.ndarray:
        """Each judgement's vote (`tables.top_votes`), which votes, soft labels and packs
        all count."""
        return tables.top_votes(
            self.judgements, self.items, self.item_pos, self.preference_format, self.pairs
        )

    @functools.cached_property
    def vote_counts(self) -> tuple[np.ndarray, np.ndarray]:
        return tables.vote_counts(self.items, self.item_pos, self.top_votes)

    @functools.cached_property
    def votes(self) -> pa.Table:
        """The part's vote distribution per item (`votes.votes_table`), which
        `preference_votes` writes and `soft_labels` starts from."""
        from aggregation.release.datasets import votes  # it builds on this module

        return votes.votes_table(self.context, self.items, *self.vote_counts)

    @functools.cached_property
    def person(self) -> np.ndarray:
        """Each judgement's participant, as a position in `people`."""
        return self.people.positions(self.judgements.column("participant_id").to_numpy())

    @functools.cached_property
    def strict_pairs(self) -> pa.Table:
        """The pairs with a winner, as the DPO datasets write them (one table per part,
        which the split views filter)."""
        # The preferences module builds on this one; imported here, not at the top, so
        # that a dataset module may import `base` without a cycle.
        from aggregation.release.datasets import preferences

        return preferences.strict_table(self)

    @functools.cached_property
    def ratings(self) -> tables.Ratings | None:
        """One row per (judgement, rated candidate); None when no judgement has ratings."""
        if self.judgements.column("ratings").null_count == self.judgements.num_rows:
            return None
        return tables.ratings_long(self.judgements, self.items, self.item_pos)

    @functools.cached_property
    def scores(self) -> np.ndarray | None:
        """Single-response ratings: judgements × rubric attributes, in rubric order (every
        response scores every attribute); None when the part has no scores."""
        column = self.judgements.column("scores")
        if not self.rubric or column.null_count == self.judgements.num_rows:
            return None
        rows = [json.loads(raw) for raw in column.to_pylist()]
        return np.array([[row[name] for name in self.rubric] for row in rows], dtype=np.int64)


def _counts_nothing(part: Part, tally: Tally) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Dataset:
    # The file's name in each audience's folder, and the export's "kind". Which campaigns
    # it applies to: those whose item kind lists it (`aggregation.release.kinds`).
    name: str
    contents: str  # the card's table of configs
    columns: tuple[str, ...]  # after the columns every file starts with
    build: Callable[[Part], pa.Table | None]  # None: nothing to write for this part
    card_columns: Callable[[bool], str]  # the card's "Columns" entry (conversational?)
    count: Callable[[Part, Tally], None] = _counts_nothing
    openai: Callable[[dict], dict | None] | None = None  # a row as an OpenAI record
    # The card's lines about this campaign's file (its threshold, its rubric), if any:
    # given the campaign and the card's escape for user text (`card._inline`).
    card_notes: Callable[[object, Callable[[str], str]], list[str]] | None = None
    # A JSONL file always, its lines made from rows by this (nested records that Parquet
    # holds as JSON text, such as conversation trees); None: JSONL only when asked for.
    jsonl_record: Callable[[dict], dict] | None = None
    # Named splits: ``build`` then gives a table per split, written as
    # ``<audience>/<name>/<split>.parquet`` and declared as one config with these splits.
    splits: tuple[str, ...] = ()
    # Written once per audience after the pass (``build`` gives None for every part).
    finish: Callable[[Final], pa.Table | None] | None = None
    recipe: str = ""  # the card's "How to train on it" entry; empty: none


@dataclasses.dataclass
class Final:
    """One audience at the end of the pass, for a dataset written then (`Dataset.finish`)."""

    audience: int
    audience_kind: str
    context: tables.TableContext
    people: tables.PeopleColumns
    judgements: np.ndarray  # per participant (positions in ``people``)
    views: Views
