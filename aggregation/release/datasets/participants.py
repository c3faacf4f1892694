"""The release's people: one row per participant per audience, with their pseudonym, how
they came in, their attribute values as published (suppressed ones null), how many
judgements they gave, the raking weight their rows carry, and their side of the split
by participant. Written once per audience, after the pass (the judgements per
participant are counted while the campaign is read)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aggregation.release import tables
from aggregation.release.datasets.base import Dataset, Final, Part

SIDES = pa.array(["train", "test"])


def participants_table(final: Final) -> pa.Table | None:
    people = final.people
    present = np.flatnonzero(final.judgements > 0)
    if not len(present):
        return None
    n = len(present)
    columns = {
        "participant_id": tables.dictionary_array(present, people.pseudonyms, unique=True),
        "audience": tables.constant_array(final.context.audience, n),
        "joined_via": tables.dictionary_array(present, people.joined_via),
    }
    for name, (codes, allowed) in people.attributes.items():
        mine = codes[present]
        columns[f"attr_{name}"] = tables.dictionary_array(
            np.maximum(mine, 0), allowed, mask=mine < 0
        )
    columns["judgements"] = pa.array(final.judgements[present], pa.int64())
    columns["weight"] = pa.array(people.weights[present], pa.float64())
    columns["split"] = tables.dictionary_array(
        people.held_out[present].astype(np.int64), SIDES, unique=True
    )
    return pa.table(columns)


def _nothing_per_part(part: Part) -> None:
    return None


DATASET = Dataset(
    name="participants",
    contents="one row per participant: pseudonym, attributes, judgements, weight, split",
    columns=("participant_id", "audience", "joined_via", "judgements", "weight", "split"),
    build=_nothing_per_part,
    finish=participants_table,
    card_columns=lambda conversational: (
        "- Participants: one row per participant of the audience, `participant_id` as "
        "in every other file, `joined_via`, the `attr_` values as published, "
        "`judgements` (how many they gave), `weight` (their raking weight) and `split` "
        "(their side of the split by participant)."
    ),
)
