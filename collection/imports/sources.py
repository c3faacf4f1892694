"""From a file (or a `datasets` folder) and a format to numbered item rows.

The format names the shape of a row: ``jsonl`` (the platform's items), ``csv``,
``hh-rlhf`` (Anthropic's transcripts), ``pairs`` (``prompt``/``chosen``/``rejected``),
``prompt-response`` (one response to rate, as HelpSteer2 ships them), or ``auto`` to
tell them apart from the first row. The container is read from the bytes, whatever
the file is called: plain text, gzip (``.jsonl.gz``, ``.csv.gz``), Parquet, Arrow; a
folder is a dataset saved by `datasets`, and a .zip or .tar.gz of such a folder is
unpacked first (`archives`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from collection import payloads
from collection.imports import archives, columnar, conversations, native, reading, responses
from collection.imports.errors import ImportFileError
from collection.imports.reading import Row

FORMATS = ("auto", "jsonl", "csv", "hh-rlhf", "pairs", "prompt-response")


@dataclass
class Opened:
    rows: Iterator[tuple[int, Row]]
    format: str  # the row shape found, never "auto"
    unit: str  # "Line" or "Row"


def _relabel(error: ImportFileError, unit: str) -> ImportFileError:
    if error.unit == unit:
        return error
    return ImportFileError(
        error.message, line=error.line, field=error.field, status=error.status, unit=unit
    )


def _native(number: int, row: dict, unit: str) -> dict:
    unknown = sorted(set(row) - native.NATIVE_FIELDS)
    if unknown:
        raise ImportFileError(
            f"Unknown field; expected one of {', '.join(sorted(native.NATIVE_FIELDS))}.",
            line=number,
            field=unknown[0],
            unit=unit,
        )
    return row


def _hh(number: int, row: dict, unit: str) -> dict:
    return conversations.hh_item(number, row)


SHAPES: dict[str, Callable[[int, dict, str], dict]] = {
    "jsonl": _native,
    "hh-rlhf": _hh,
    "pairs": conversations.pair_item,
    "prompt-response": responses.response_item,
}


def shape_of(row: dict) -> str:
    """The format a first row is in: HH-RLHF transcripts, pairs, prompt/response rows, or
    the platform's items."""
    if "chosen" in row and "rejected" in row:
        chosen = row["chosen"]
        if "prompt" not in row and isinstance(chosen, str) and chosen.startswith("\n\nHuman:"):
            return "hh-rlhf"
        return "pairs"
    if "response" in row and "prompt" in row and "payload" not in row:
        return "prompt-response"
    return "jsonl"


def _shaped(rows: Iterator[tuple[int, Row]], shape: str, unit: str) -> Iterator[tuple[int, Row]]:
    make = SHAPES[shape]
    # Parquet and Arrow give Python values that no JSON parser has checked; the
    # conversation shapes check every text they keep, the native shape passes
    # whole payloads on, so those are walked here.
    walk = unit == columnar.ROW and shape == "jsonl"
    for number, row in rows:
        if isinstance(row, dict):
            try:
                if walk:
                    payloads.check_json(row)
                row = make(number, row, unit)
            except ImportFileError as error:
                row = error
            except payloads.PayloadError as error:
                row = ImportFileError(error.message, line=number, field=error.field, unit=unit)
        if isinstance(row, ImportFileError):
            row = _relabel(row, unit)
        yield number, row


def _with_shape(
    rows: Iterator[tuple[int, Row]], file_format: str, unit: str
) -> tuple[Iterator[tuple[int, Row]], str]:
    if file_format != "auto":
        return _shaped(rows, file_format, unit), file_format
    first = next(rows, None)
    if first is None:
        raise ImportFileError("The file has no items.")
    shape = shape_of(first[1]) if isinstance(first[1], dict) else "jsonl"

    def again() -> Iterator[tuple[int, Row]]:
        yield first
        yield from rows

    return _shaped(again(), shape, unit), shape


def rows_open(source: IO[bytes] | Path, file_format: str, *, limit: int) -> Opened:
    """Numbered rows of ``source`` in ``file_format``; ``limit`` caps the bytes read (0: none)."""
    if file_format not in FORMATS:
        raise ImportFileError(f"Unknown format; use one of {', '.join(FORMATS)}.", field="format")
    if isinstance(source, Path):
        if file_format == "csv":
            raise ImportFileError("A dataset folder holds rows, not CSV.", field="format")
        rows, shape = _with_shape(columnar.folder_rows(source, limit), file_format, columnar.ROW)
        return Opened(rows, shape, columnar.ROW)
    kind, stream = reading.container(source)
    if kind in ("zip", "tar"):
        if file_format == "csv":
            raise ImportFileError("A dataset folder holds rows, not CSV.", field="format")
        found = archives.archive_rows(stream, kind, limit)
        rows, shape = _with_shape(found, file_format, columnar.ROW)
        return Opened(rows, shape, columnar.ROW)
    if kind != "text":
        if file_format == "csv":
            raise ImportFileError(f"This is a {kind.split('-')[0]} file, not CSV.", field="format")
        columnar.check_size(stream, limit)
        found = (
            columnar.parquet_rows(stream)
            if kind == "parquet"
            else columnar.arrow_rows(stream, kind)
        )
        rows, shape = _with_shape(found, file_format, columnar.ROW)
        return Opened(rows, shape, columnar.ROW)
    if limit:
        stream = reading.Capped(stream, limit)
    if file_format == "auto":
        first = stream.readline(reading.MAX_LINE_BYTES + 1)
        while first and not first.strip():
            first += stream.readline(reading.MAX_LINE_BYTES + 1)
        stream = reading._Prefixed(first, stream)
        if not first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return Opened(native.csv_rows(stream), "csv", "Line")
        file_format = shape_of(_first_object(first))
    if file_format == "csv":
        return Opened(native.csv_rows(stream), "csv", "Line")
    if file_format == "jsonl":  # the common case, without the shaping layer
        return Opened(native.native_rows(stream), "jsonl", "Line")
    return Opened(_shaped(reading.json_rows(stream), file_format, "Line"), file_format, "Line")


def _first_object(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode("utf-8-sig", "replace").strip().splitlines()[0])
    except (ValueError, IndexError, RecursionError):
        return {}  # the import itself names the line and what is wrong with it
    return value if isinstance(value, dict) else {}
