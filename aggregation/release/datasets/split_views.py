"""The strict preference pairs split three ways, each declared as one config with named
splits in the card, so ``load_dataset(path, name, split="test")`` works:

- ``preferences_by_participant`` (train / test): no participant on both sides, for
  models that must generalise to new people;
- ``preferences_by_item`` (train / test): no item on both sides (unseen prompts);
- ``heldout_participants`` (context / query): the by-participant test side's people,
  each with a context set (the pairs of their first ``context_judgements`` judgements
  by submission time, `aggregation.selectors.heldout`; a tie counts as a judgement but
  gives no pair) and a query set (the rest), for few-shot personalisation (PAL, VPL).

Sides come from `aggregation.release.splits` (the export's ``split_seed`` and
``test_percent``, in the manifest's parameters).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation import selectors
from aggregation.release.datasets import preferences
from aggregation.release.datasets.base import Dataset, Part

PREFERENCE_COLUMNS = preferences.DATASET.columns


def _pair_people(part: Part) -> np.ndarray:
    """Each strict pair's participant (a position in ``part.people``)."""
    return part.person[part.pairs.row[~part.pairs.tie]]


def by_participant(part: Part) -> dict[str, pa.Table]:
    table = part.strict_pairs
    test = part.people.held_out[_pair_people(part)]
    return {"train": table.filter(pa.array(~test)), "test": table.filter(pa.array(test))}


def by_item(part: Part) -> dict[str, pa.Table]:
    table = part.strict_pairs
    item_ids = part.items.ids[part.item_pos[part.pairs.row[~part.pairs.tie]]]
    test = np.isin(item_ids, part.views.test_items)
    return {"train": table.filter(pa.array(~test)), "test": table.filter(pa.array(test))}


def judgement_number(part: Part, key: str) -> np.ndarray:
    """Each judgement's place (0, 1, ...) among its participant's judgements in the
    release's order so far, counted across chunks in ``part.views.state[key]``."""
    seen = part.views.state.setdefault(key, np.zeros(len(part.people.ids), dtype=np.int64))
    person = part.person
    order = np.argsort(person, kind="stable")  # rows are in item order within a person
    sorted_person = person[order]
    starts = np.flatnonzero(np.r_[True, sorted_person[1:] != sorted_person[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, len(person)]))
    number = np.empty(len(person), dtype=np.int64)
    number[order] = seen[sorted_person] + np.arange(len(person)) - run
    np.add.at(seen, person, 1)
    return number


def context_query(part: Part) -> dict[str, pa.Table]:
    rows = part.pairs.row[~part.pairs.tie]
    held = part.people.held_out[_pair_people(part)]
    keys = selectors.judgement_keys(
        part.judgements.column("participant_id").to_numpy()[rows],
        part.items.ids[part.item_pos[rows]],
    )
    in_context = np.isin(keys, part.views.contexts[part.audience])
    table = part.strict_pairs
    return {
        "context": table.filter(pa.array(held & in_context)),
        "query": table.filter(pa.array(held & ~in_context)),
    }


BY_PARTICIPANT = Dataset(
    name="preferences_by_participant",
    contents="strict pairs split by participant (train / test: no one in both)",
    columns=PREFERENCE_COLUMNS,
    build=by_participant,
    card_columns=lambda conversational: "",
    splits=("train", "test"),
    recipe=(
        "**User-conditioned reward model (PAL / VPL style)**: train on "
        "`<audience>-preferences-by-participant` `train`, conditioning on `participant_id` "
        "(a learned embedding per pseudonym, or a latent inferred from the person's "
        "pairs), and evaluate on `test`, whose people the model never saw; for few-shot "
        "personalisation, infer each held-out person's latent from "
        "`<audience>-heldout-participants` `context` and score `query`."
    ),
)
BY_ITEM = Dataset(
    name="preferences_by_item",
    contents="strict pairs split by item (train / test: unseen prompts)",
    columns=PREFERENCE_COLUMNS,
    build=by_item,
    card_columns=lambda conversational: "",
    splits=("train", "test"),
)
HELDOUT = Dataset(
    name="heldout_participants",
    contents="held-out participants: context (first judgements) / query (the rest)",
    columns=PREFERENCE_COLUMNS,
    build=context_query,
    card_columns=lambda conversational: "",
    splits=("context", "query"),
)
