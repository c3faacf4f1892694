"""Single responses to rate, as public datasets ship them: rows with ``prompt`` and
``response``, e.g. HelpSteer2 (Wang et al., 2024, arXiv:2406.08673), whose rows also
carry its annotators' scores, ``helpfulness``, ``correctness``, ``coherence``,
``complexity`` and ``verbosity`` (0-4).

Each row becomes one rating item. Every numeric column is kept as the response's
``source_scores`` (the dataset's own ratings, for comparison; annotators never see
them); ``external_id`` (or ``id``) is kept; other columns are ignored.
"""

from __future__ import annotations

from collection.imports.errors import ImportFileError

KEPT = {"prompt", "response", "external_id", "id"}


def response_item(number: int, row: dict, unit: str = "Line") -> dict:
    """An item row (the native shape) from a ``prompt``/``response`` row."""
    for key in ("prompt", "response"):
        if not isinstance(row.get(key), str):
            raise ImportFileError("Must be a string.", line=number, field=key, unit=unit)
    scores = {
        name: value
        for name, value in row.items()
        if name not in KEPT and isinstance(value, int | float) and not isinstance(value, bool)
    }
    response: dict = {"text": row["response"]}
    if scores:
        response["source_scores"] = scores
    external_id = row.get("external_id") if row.get("external_id") is not None else row.get("id")
    return {"external_id": external_id, "prompt": row["prompt"], "payload": {"response": response}}
