"""Rows of Parquet and Arrow files, and of a folder `datasets` wrote.

`Dataset.to_parquet` writes one Parquet file; `Dataset.save_to_disk` a folder of Arrow
IPC stream files (``data-00000-of-00001.arrow`` …) listed, in order, in its
``state.json`` beside ``dataset_info.json``. Rows are read a batch at a time and
numbered from 1 across the whole dataset; errors name the row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from collection.imports.errors import ImportFileError, size_limit_message

BATCH_ROWS = 1_000
ROW = "Row"
_READ_ERRORS = (pa.ArrowException, OSError, ValueError)


def _batches_rows(batches: Iterator[pa.RecordBatch], start: int = 0) -> Iterator[tuple[int, dict]]:
    number = start
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _guarded(rows: Iterator[tuple[int, dict]], what: str) -> Iterator[tuple[int, dict]]:
    number = 0
    try:
        for number, row in rows:
            yield number, row
    except _READ_ERRORS as error:
        raise ImportFileError(
            f"Not a readable {what} file after row {number}: {error}.", line=number + 1, unit=ROW
        ) from error


def check_size(stream: IO[bytes], limit: int) -> None:
    """Columnar files are read by seeking, not line by line: check their size first."""
    if not limit:
        return
    start = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(start)
    if size > limit:
        raise ImportFileError(size_limit_message(limit), status=413)


def parquet_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    try:
        parquet = pq.ParquetFile(stream)
    except _READ_ERRORS as error:
        raise ImportFileError(f"Not a readable Parquet file: {error}.") from error
    return _guarded(_batches_rows(parquet.iter_batches(batch_size=BATCH_ROWS)), "Parquet")


def arrow_rows(stream: IO[bytes], kind: str) -> Iterator[tuple[int, dict]]:
    try:
        if kind == "arrow-file":
            reader = pa.ipc.open_file(stream)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = iter(pa.ipc.open_stream(stream))
    except _READ_ERRORS as error:
        raise ImportFileError(f"Not a readable Arrow file: {error}.") from error
    return _guarded(_batches_rows(batches), "Arrow")


def folder_files(folder: Path) -> list[Path]:
    """The data files of a dataset folder, in the dataset's row order."""
    if (folder / "dataset_dict.json").is_file():
        try:
            splits = json.loads((folder / "dataset_dict.json").read_text())["splits"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ImportFileError("dataset_dict.json is not readable.") from error
        raise ImportFileError(
            f"This folder holds the splits {', '.join(map(str, splits))}; import one of "
            f"them (e.g. {folder / str(splits[0])})."
        )
    state = folder / "state.json"
    if state.is_file():
        try:
            names = [entry["filename"] for entry in json.loads(state.read_text())["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ImportFileError("state.json does not list the data files.") from error
        files = [folder / name for name in names]
        missing = [file.name for file in files if not file.is_file() or file.parent != folder]
        if missing:
            raise ImportFileError(f"state.json lists {missing[0]}, which is not in the folder.")
        return files
    files = sorted(folder.glob("*.parquet")) or sorted(folder.glob("*.arrow"))
    if not files:
        raise ImportFileError(
            "Not a dataset folder: no state.json (from save_to_disk) and no .parquet or "
            ".arrow files."
        )
    return files


def folder_rows(folder: Path, limit: int) -> Iterator[tuple[int, dict]]:
    files = folder_files(folder)
    if limit and sum(file.stat().st_size for file in files) > limit:
        raise ImportFileError(size_limit_message(limit), status=413)
    return folder_file_rows(files)


def folder_file_rows(files: list[Path]) -> Iterator[tuple[int, dict]]:
    number = 0
    for file in files:
        with file.open("rb") as stream:
            if file.suffix == ".parquet":
                rows = parquet_rows(stream)
            else:
                head = stream.read(6)
                stream.seek(0)
                rows = arrow_rows(stream, "arrow-file" if head == b"ARROW1" else "arrow-stream")
            in_file = 0
            for in_file, row in rows:
                yield number + in_file, row
            number += in_file
