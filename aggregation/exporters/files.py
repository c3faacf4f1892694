"""Writing release files so that the same rows always give the same bytes.

Parquet: fixed writer options (zstd level 3, format 2.6, no Arrow schema blob,
so readers see plain strings for dictionary columns); pyarrow writes no
timestamps and a constant ``created_by``. JSONL: keys in column order, compact
separators, UTF-8. The zip: entries in sorted order, a fixed 1980-01-01 date,
fixed permissions. Every file is fsynced before the folder is published.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
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


class TableFile:
    """One Parquet file written batch by batch, with an optional JSONL twin."""

    def __init__(self, directory: Path, name: str, *, jsonl: bool, openai=None):
        self.directory = directory
        self.name = name  # e.g. "everyone/preferences"
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._jsonl = None
        self._want_jsonl = jsonl
        # (file name suffix, function from a row dict to a record or None)
        self._openai = openai
        self._openai_file = None

    @property
    def paths(self) -> list[str]:
        if self._writer is None:
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
        if self._writer is None:
            path = self.directory / f"{self.name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(path, table.schema, **PARQUET_OPTIONS)
            if self._want_jsonl:
                self._jsonl = open(self.directory / f"{self.name}.jsonl", "wb")  # noqa: SIM115
            if self._openai is not None:
                self._openai_file = open(  # noqa: SIM115
                    self.directory / f"{self.name}.openai.jsonl", "wb"
                )
        self._writer.write_table(table)
        self.rows += table.num_rows
        if self._jsonl is not None or self._openai_file is not None:
            for row in table.to_pylist():
                if self._jsonl is not None:
                    self._jsonl.write(json_line({k: _jsonable(v) for k, v in row.items()}))
                if self._openai_file is not None:
                    record = self._openai(row)
                    if record is not None:
                        self._openai_file.write(json_line(record))

    def close(self) -> None:
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
