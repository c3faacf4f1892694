"""What a release publishes about its people: pseudonyms, attribute values with small
cells suppressed, and raking weights fitted on the values as published (`audience_people`).

A cell is one combination of an audience's attribute values. Cells with fewer
than the minimum of members are suppressed. That alone can still give a
suppressed member's value away: a reader knows every allowed value (the card
lists them) and sees every published cell whole, so a suppressed member's
combination is one no published cell has. When all those combinations agree
on an attribute (one attribute with two values and one of them published, say),
that attribute is known. The usual remedy is complementary suppression (Cox,
"Suppression methodology and statistical disclosure control", JASA 75, 1980):
suppress further cells until every attribute of a suppressed member could
still take at least two values.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from aggregation import metrics, selectors
from aggregation.release.tables import PeopleColumns
from aggregation.release.tally import PublishedPeople
from collection.models import Audience

Cell = tuple[Hashable, ...]


def suppressed_cells(
    sizes: Mapping[Cell, int], *, choices: Sequence[Sequence[Hashable]], min_cell_size: int
) -> set[Cell]:
    """The cells to suppress: those under ``min_cell_size`` members, and then the
    smallest published cells (ties broken by the cell's values, so the choice is
    deterministic) that keep each attribute of a suppressed member from being
    implied by the published cells. ``sizes`` maps each cell found to its members;
    ``choices`` holds each attribute's allowed values, in the cells' order."""
    hidden = {cell for cell, size in sizes.items() if size < min_cell_size}
    if not hidden:
        return hidden
    combinations = math.prod(len(values) for values in choices)
    while True:
        shown = [cell for cell in sizes if cell not in hidden and _allowed(cell, choices)]
        revealed = _revealed_attribute(shown, choices, combinations)
        if revealed is None:
            return hidden
        attribute, value = revealed
        # Some other value is fully published (only ``value`` is not), so this is not empty.
        others = [cell for cell in shown if cell[attribute] != value]
        hidden.add(min(others, key=lambda cell: (sizes[cell], tuple(map(str, cell)))))


def _allowed(cell: Cell, choices: Sequence[Sequence[Hashable]]) -> bool:
    return all(value in values for value, values in zip(cell, choices, strict=True))


def _revealed_attribute(
    shown: list[Cell], choices: Sequence[Sequence[Hashable]], combinations: int
) -> tuple[int, Hashable] | None:
    """An attribute that every unpublished combination shares one value of, with that
    value; None when each attribute could still take two values or more."""
    for attribute, values in enumerate(choices):
        per_value = combinations // len(values)
        published = {value: 0 for value in values}
        for cell in shown:
            published[cell[attribute]] += 1
        open_values = [value for value in values if published[value] < per_value]
        if len(open_values) == 1:
            return attribute, open_values[0]
    return None


def pseudonym(key: str, participant_id: int, audience_id: int) -> str:
    """HMAC-SHA256 of (audience id, participant id) under the release's key (first 20 hex
    digits).

    Keyed per audience as well as per release: one person can be in two audiences of a
    release that ask the same attribute, suppressed in one and published in the other,
    and a shared pseudonym would carry the published value across to the suppressed rows.
    """
    message = f"{audience_id}:{participant_id}".encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()[:20]


def audience_people(
    selection: selectors.ReleaseSelection,
    participants: selectors.Participants,
    *,
    key: str | None,
    min_cell_size: int,
    release: bool = False,
) -> tuple[dict[int, PeopleColumns], dict[int, PublishedPeople]]:
    """Per audience, as rows show them and as the metrics count them: pseudonyms (none
    without a ``key``: metrics need none), raking weights and attribute values with small
    cells suppressed. A cell is a combination
    of all of an audience's attribute values; a member whose combination fewer than
    ``min_cell_size`` members share is exported with every attribute suppressed (null),
    and so are the members of the further cells `suppressed_cells` picks so that
    the published cells do not imply a suppressed member's values. In a ``release``, a
    dyadic audience's one member is always suppressed, whatever ``min_cell_size`` says.

    Weights and every attribute count are computed from the values as published, never
    the true ones: raking weights are a product of one factor per attribute value, so
    weights raked on true values give a suppressed member's values back to anyone who
    fits those factors on the published rows, and counts over every member less the
    published rows' counts give the suppressed members' values. Suppressed members are
    left out of every margin, so they all keep one weight, the same for each (their
    share of the weight stays their share of the sample)."""
    frame = participants.frame
    people, report = {}, {}
    for audience in selection.audiences:
        rows = frame[frame["audience_id"] == audience.id].sort_values("participant_id")
        ids = rows["participant_id"].to_numpy(dtype=np.int64)
        names = audience.attribute_names
        given = [attributes or {} for attributes in rows["attributes"]]
        values = pd.DataFrame(
            {name: pd.Series([a.get(name) for a in given], dtype=object) for name in names},
            index=pd.RangeIndex(len(ids)),
        )
        if release and audience.kind == Audience.Kind.DYADIC:
            small = np.ones(len(ids), dtype=bool)
        elif names and len(ids):
            cells = pd.Series(list(zip(*(values[name] for name in names), strict=True)))
            hidden = suppressed_cells(
                cells.value_counts().to_dict(),
                choices=[attribute["choices"] for attribute in audience.attribute_schema],
                min_cell_size=min_cell_size,
            )
            small = cells.isin(hidden).to_numpy()
        else:
            small = np.zeros(len(ids), dtype=bool)
        published = values.copy()
        published.loc[small, :] = None
        attributes = {}
        for attribute in audience.attribute_schema:
            allowed = list(attribute["choices"])
            lookup = {value: i for i, value in enumerate(allowed)}
            codes = np.array(
                [lookup.get(v, -1) for v in published[attribute["name"]]], dtype=np.int64
            )
            attributes[attribute["name"]] = (codes, pa.array(allowed, pa.string()))
        targets = audience.target_marginals if audience.kind == Audience.Kind.PUBLIC else {}
        if targets:
            weights, note = rake(published[list(targets)], targets)
        else:
            weights, note = np.ones(len(ids)), ""
        people[audience.id] = PeopleColumns(
            ids=ids,
            pseudonyms=pa.array(
                [pseudonym(key, int(pid), audience.id) for pid in ids]
                if key
                else [None] * len(ids),
                pa.string(),
            ),
            weights=weights,
            attributes=attributes,
            joined_via=pa.array(rows["joined_via"].tolist(), pa.string()),
        )
        report[audience.id] = PublishedPeople(
            ids=ids,
            attributes=published,
            weights=weights,
            weighted=bool(targets) and not note.startswith("not raked"),
            weighting_note=note,
            suppressed_participants=int(small.sum()),
        )
    return people, report


def rake(sample: pd.DataFrame, targets: dict) -> tuple[np.ndarray, str]:
    """Raking weights (mean 1) with a note when they could not be fitted."""
    if sample.empty:
        return np.ones(0), ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            weights = metrics.rake_weights(sample, targets=targets)
        except ValueError as error:
            return np.ones(len(sample)), f"not raked: {error}"
    note = "; ".join(str(warning.message) for warning in caught)
    return weights.to_numpy(dtype=float), note
