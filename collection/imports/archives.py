"""A `datasets` folder sent as one upload: a .zip or .tar.gz of the folder that
`save_to_disk` (or `to_parquet`, into a folder) wrote.

It is unpacked into a temporary folder and read as the CLI reads a folder
(`columnar.folder_rows`). The same limits hold as for a gzipped file: the bytes unpacked
count against the import limit (a 413 once they pass it, however small the archive), and
only regular files under the folder are written: a member with an absolute path, a
``..`` step, a link or a device is refused with a 400 naming it, before anything is
written outside the temporary folder.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import tempfile
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from collection.imports import columnar
from collection.imports.errors import ImportFileError, size_limit_message

ZIP_MAGIC = b"PK\x03\x04"
TAR_MAGIC_OFFSET = 257  # "ustar" in a POSIX tar header
MAX_MEMBERS = 10_000  # a datasets folder holds a few files; more is not one
CHUNK = 1 << 16


def is_tar(head: bytes) -> bool:
    return head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar"


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ImportFileError(
            f"The archive member {name!r} points outside the folder; nothing was unpacked.",
            field="file",
        )
    return path


class _Budget:
    """Unpacked bytes so far, against the import limit (0: none)."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    def copy(self, source: IO[bytes], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            while chunk := source.read(CHUNK):
                self.used += len(chunk)
                if self.limit and self.used > self.limit:
                    raise ImportFileError(
                        f"Unpacked, the archive passes the limit: {size_limit_message(self.limit)}",
                        status=413,
                    )
                out.write(chunk)


def _count(members: int) -> None:
    if members > MAX_MEMBERS:
        raise ImportFileError(
            f"The archive holds more than {MAX_MEMBERS:,} files; a datasets folder holds a few.",
            field="file",
        )


def _unzip(stream: IO[bytes], into: Path, budget: _Budget) -> None:
    try:
        archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ImportFileError(f"Not a readable zip archive ({error}).", field="file") from error
    _count(len(infos))
    for info in infos:
        _safe_name(info.filename)
        # Unix file type in the high bits; none given (Windows zips, writestr) is a file.
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ImportFileError(
                f"The archive member {info.filename!r} is a link or a device; only files "
                "are unpacked.",
                field="file",
            )
    for info in infos:
        if info.is_dir():
            continue
        try:
            with archive.open(info) as member:
                budget.copy(member, into / _safe_name(info.filename))
        except ImportFileError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise ImportFileError(
                f"The archive member {info.filename!r} is damaged ({error}).", field="file"
            ) from error


def _untar(stream: IO[bytes], into: Path, budget: _Budget) -> None:
    members = 0
    try:
        # Streamed ("r|*"): one pass, members checked as they come, gzip or not.
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                members += 1
                _count(members)
                path = _safe_name(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ImportFileError(
                        f"The archive member {member.name!r} is a link or a device; only "
                        "files are unpacked.",
                        field="file",
                    )
                source = archive.extractfile(member)
                if source is not None:
                    budget.copy(source, into / path)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ImportFileError(f"Not a readable tar archive ({error}).", field="file") from error


def _dataset_folder(root: Path) -> Path:
    """The folder the archive holds: its top, or the one folder at its top."""
    entries = [entry for entry in root.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root


def archive_rows(stream: IO[bytes], kind: str, limit: int) -> Iterator[tuple[int, dict]]:
    """The rows of the `datasets` folder in a zip or tar archive (``kind`` "zip" or
    "tar"); the archive is unpacked and checked before the first row is read."""
    temporary = Path(tempfile.mkdtemp(prefix="pluralign-import-"))
    try:
        budget = _Budget(limit)
        (_unzip if kind == "zip" else _untar)(stream, temporary, budget)
        files = columnar.folder_files(_dataset_folder(temporary))
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    rows = _removed_after(columnar.folder_file_rows(files), temporary)
    # A refusal before the first row is read never starts the generator, so its
    # finally never runs: the folder goes when the generator does.
    weakref.finalize(rows, shutil.rmtree, temporary, True)
    return rows


def _removed_after(rows: Iterator[tuple[int, dict]], folder: Path) -> Iterator[tuple[int, dict]]:
    try:
        yield from rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)
