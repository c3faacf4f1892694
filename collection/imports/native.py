"""The platform's own formats: JSONL of items, and CSV with a header row."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO

from collection import payloads
from collection.imports.errors import ImportFileError, row_error
from collection.imports.reading import Row, json_rows, lines

NATIVE_FIELDS = {"external_id", "prompt", "context", "payload", "expected"}


def native_rows(stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    """JSONL: {"external_id", "prompt", "context", "payload", "expected"} per line."""
    for number, row in json_rows(stream):
        if isinstance(row, dict):
            unknown = sorted(set(row) - NATIVE_FIELDS)
            if unknown:
                row = ImportFileError(
                    f"Unknown field; expected one of {', '.join(sorted(NATIVE_FIELDS))}.",
                    line=number,
                    field=unknown[0],
                )
        yield number, row


CSV_CANDIDATES = "abcdefghi"
CSV_COLUMNS = {
    "external_id",
    "prompt",
    "situation",
    "persona",
    "context_messages",
    "draft",
    "question",
    "reference_answer",
    "sources",
    "expected",
    *(f"candidate_{c}" for c in CSV_CANDIDATES),
    *(f"source_{c}" for c in CSV_CANDIDATES),
}


def csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    """CSV with a header row. Columns (all optional but prompt/question as the kind needs):
    external_id, prompt, situation, persona, context_messages (JSON list),
    candidate_a..candidate_i with source_a..source_i, draft, question,
    reference_answer, sources (separated by |), expected (JSON).

    A record may span lines (quoted newlines), so a line that is not UTF-8 ends the
    reading rather than being skipped.
    """
    numbered = lines(stream)

    class Reader:
        # csv wants an iterator of str; remember which file line each record started on.
        line = 0

        def __iter__(self):
            return self

        def __next__(self):
            self.line, text = next(numbered)
            if isinstance(text, ImportFileError):
                raise text
            return text

    reader_lines = Reader()
    try:
        reader = csv.DictReader(reader_lines, strict=True)
        header = reader.fieldnames
    except csv.Error as error:
        raise ImportFileError(f"Not valid CSV: {error}.", line=reader_lines.line) from error
    if not header:
        raise ImportFileError("The file is empty.")
    for name in header:
        try:
            payloads.check_text(name, payloads.field_name(name))
        except payloads.PayloadError as error:
            raise row_error(error, 1) from error
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError("Unknown column.", line=1, field=unknown[0])
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFileError(f"Not valid CSV: {error}.", line=reader_lines.line) from error
        number = reader_lines.line
        if None in record:
            yield number, ImportFileError("More cells than header columns.", line=number)
            continue
        try:
            yield number, _csv_record(record, number)
        except payloads.PayloadError as error:
            yield number, row_error(error, number)
        except ImportFileError as error:
            yield number, error


def _csv_record(record: dict, number: int) -> dict:
    get = lambda name: (record.get(name) or "").strip() or None  # noqa: E731
    row: dict = {"external_id": get("external_id"), "prompt": get("prompt")}
    context: dict = {}
    for key in ("situation", "persona"):
        if get(key):
            context[key] = get(key)
    if get("context_messages"):
        try:
            context["messages"] = payloads.loads(get("context_messages"), "context_messages")
        except json.JSONDecodeError as error:
            raise ImportFileError(
                "Not valid JSON.", line=number, field="context_messages"
            ) from error
    row["context"] = context or None
    candidates = []
    for letter in CSV_CANDIDATES:
        text = record.get(f"candidate_{letter}")
        if text:
            candidate = {"id": letter, "text": text}
            if get(f"source_{letter}"):
                candidate["source"] = get(f"source_{letter}")
            candidates.append(candidate)
    payload: dict = {}
    if candidates:
        payload["candidates"] = candidates
    if get("draft"):
        payload["draft"] = record["draft"]
    if get("question"):
        payload["question"] = get("question")
    if get("reference_answer"):
        payload["reference_answer"] = record["reference_answer"]
    if get("sources"):
        payload["sources"] = [part.strip() for part in record["sources"].split("|") if part.strip()]
    row["payload"] = payload
    if get("expected"):
        try:
            row["expected"] = payloads.loads(get("expected"), "expected")
        except json.JSONDecodeError as error:
            raise ImportFileError("Not valid JSON.", line=number, field="expected") from error
    return row
