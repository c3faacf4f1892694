"""Model instances from raw SQL rows, for the hand-written queries of the hot path (the
engine's selectors and services, the API token lookup)."""

from __future__ import annotations

import functools

from django.db import connection


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@functools.cache
def _loader(model) -> tuple[list[str], list[tuple[int, list]]]:
    """A model's field names, and which of its columns need converting (JSON decoding), by
    what: worked out once per model, not on every request."""
    fields = model._meta.concrete_fields
    converters = [(i, field.get_db_converters(connection)) for i, field in enumerate(fields)]
    return [field.attname for field in fields], [(i, c) for i, c in converters if c]


def _instance(model, values):
    """A model instance from its concrete fields' column values, as the ORM would build it
    (JSON decoded by the fields' own converters)."""
    names, converters = _loader(model)
    values = list(values)
    for i, functions in converters:
        for converter in functions:
            values[i] = converter(values[i], None, connection)
    return model.from_db(connection.alias, names, values)


def _instances(row, *models) -> list:
    """One instance per model from a row that selects each model's ``_columns`` in turn."""
    instances, start = [], 0
    for model in models:
        end = start + len(model._meta.concrete_fields)
        instances.append(_instance(model, row[start:end]))
        start = end
    return instances
