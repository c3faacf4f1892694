"""Writing release files so that the same rows always give the same bytes.

Parquet: fixed writer options (zstd level 1, format 2.6, no Arrow schema blob,
so readers see plain strings for dictionary columns, statistics for numbers only);
pyarrow writes no timestamps and a constant ``created_by``. JSONL: keys in column order, compact
separators, UTF-8. The zip: entries in sorted order, a fixed 1980-01-01 date,
fixed permissions. Every file is fsynced before the folder is published.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import math
import os
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "store_schema": False,
}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
STORED_SUFFIXES = (".parquet", ".png", ".zip")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_line(record: dict) -> bytes:
    return (
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
    )


def write_json(path: Path, data) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


@contextlib.contextmanager
def arrow_memory_returned():
    """Arrow allocates from jemalloc (or the system allocator) meanwhile.

    pyarrow's default pool, mimalloc, keeps freed pages per thread for reuse; with a
    reader and a writer thread beside the main one that kept about 60 MB more
    resident at a million judgements, with no gain in speed (jemalloc is as fast).
    """
    previous = pa.default_memory_pool()
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _statistics_columns(schema: pa.Schema) -> list[str]:
    """Numbers and flags get min/max statistics; text does not. Nobody filters row groups
    on the alphabetical range of prompts, replies or pseudonyms, and computing it was a
    quarter of the writing."""
    return [
        field.name
        for field in schema
        if pa.types.is_integer(field.type)
        or pa.types.is_floating(field.type)
        or pa.types.is_boolean(field.type)
    ]


class Background:
    """Runs writes in one thread, in the order they were handed in.

    Parquet compression runs in C++ without the GIL, so handing the writes to
    a thread lets a release compress one chunk while it reads the next. At
    most ``limit`` writes wait at a time, which bounds the memory they hold.
    The first error is raised again from `submit` or `finish`.
    """

    def __init__(self, limit: int = 8):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-write")
        self._slots = threading.BoundedSemaphore(limit)
        self._futures: collections.deque = collections.deque()

    def submit(self, write: Callable, *args) -> None:
        while self._futures and self._futures[0].done():
            self._futures.popleft().result()
        self._slots.acquire()
        future = self._pool.submit(write, *args)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def finish(self) -> None:
        """Wait for every write; raise the first error."""
        try:
            while self._futures:
                self._futures.popleft().result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop: drop the writes not started, wait for the one running."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class TableFile:
    """One Parquet file written batch by batch, with an optional JSONL twin.

    With a `Background`, the writing happens in its thread (in order); ``rows``
    counts what was handed in.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        jsonl: bool,
        jsonl_record=None,
        openai=None,
        background: Background | None = None,
    ):
        self.directory = directory
        self.name = name  # e.g. "everyone/preferences"
        self.rows = 0
        self._started = False
        self._writer: pq.ParquetWriter | None = None
        self._jsonl = None
        self._want_jsonl = jsonl
        self._jsonl_record = jsonl_record  # a row to its JSONL line's record, or None
        # (file name suffix, function from a row dict to a record or None)
        self._openai = openai
        self._openai_file = None
        self._background = background

    @property
    def paths(self) -> list[str]:
        if not self._started:
            return []
        paths = [f"{self.name}.parquet"]
        if self._want_jsonl:
            paths.append(f"{self.name}.jsonl")
        if self._openai is not None:
            paths.append(f"{self.name}.openai.jsonl")
        return paths

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._started = True
        self.rows += table.num_rows
        if self._background is None:
            self._write(table)
        else:
            self._background.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            path = self.directory / f"{self.name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                path,
                table.schema,
                write_statistics=_statistics_columns(table.schema),
                **PARQUET_OPTIONS,
            )
            if self._want_jsonl:
                self._jsonl = open(self.directory / f"{self.name}.jsonl", "wb")  # noqa: SIM115
            if self._openai is not None:
                self._openai_file = open(  # noqa: SIM115
                    self.directory / f"{self.name}.openai.jsonl", "wb"
                )
        self._writer.write_table(table)
        if self._jsonl is not None or self._openai_file is not None:
            for row in table.to_pylist():
                if self._jsonl is not None:
                    record = {k: _jsonable(v) for k, v in row.items()}
                    if self._jsonl_record is not None:
                        record = self._jsonl_record(record)
                    self._jsonl.write(json_line(record))
                if self._openai_file is not None:
                    record = self._openai(row)
                    if record is not None:
                        self._openai_file.write(json_line(record))

    def close(self) -> None:
        if self._background is None:
            self._close()
        else:
            self._background.submit(self._close)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        for handle in (self._jsonl, self._openai_file):
            if handle is not None:
                handle.close()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: Path) -> int | None:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".jsonl":
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    return None


def fsync_tree(directory: Path) -> None:
    """Flush every file and folder under ``directory`` to disk (before the rename)."""
    for root, folders, files in os.walk(directory):
        for name in files:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        for name in [*folders, "."]:
            fsync_dir(Path(root) / name)


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_zip(directory: Path, target: Path, *, prefix: str, names: list[str]) -> None:
    """A zip of ``names`` (paths inside ``directory``), byte-identical for identical files."""
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for name in sorted(names):
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            stored = name.endswith(STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with open(directory / name, "rb") as source, archive.open(info, "w") as sink:
                for block in iter(lambda: source.read(1 << 20), b""):
                    sink.write(block)
