"""Which attribute cells a release suppresses.

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

import math
from collections.abc import Hashable, Mapping, Sequence

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
