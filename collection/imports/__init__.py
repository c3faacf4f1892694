"""Item imports from files: the platform's JSONL and CSV, Anthropic's HH-RLHF,
``prompt``/``chosen``/``rejected`` pairs (JSONL, Parquet, Arrow, a `datasets` folder),
gzipped text. Formats are documented in the README.

- `sources`: which container and row shape a file is, and its numbered rows;
- `reading`, `native`, `conversations`, `columnar`: one reader per concern;
- `store`: validation and COPY, all or nothing or keep-valid with a report.
"""

from collection.imports.conversations import hh_transcript, parse_hh_transcript
from collection.imports.errors import ImportFileError, Rejected, size_limit_message
from collection.imports.native import csv_rows, native_rows
from collection.imports.reading import MAX_LINE_BYTES, Capped
from collection.imports.sources import FORMATS, rows_open
from collection.imports.store import (
    MODES,
    REPORT_MAX_LINES,
    ImportResult,
    _validated,
    items_import,
    items_insert,
)

__all__ = [
    "FORMATS",
    "MAX_LINE_BYTES",
    "MODES",
    "REPORT_MAX_LINES",
    "Capped",
    "ImportFileError",
    "ImportResult",
    "Rejected",
    "_validated",
    "csv_rows",
    "hh_transcript",
    "items_import",
    "items_insert",
    "native_rows",
    "parse_hh_transcript",
    "rows_open",
    "size_limit_message",
]
