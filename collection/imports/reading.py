"""Reading a file for import: its container (plain text, gzip, Parquet, Arrow), a byte
cap, and numbered lines of text or JSON.

A line that cannot be read as text or JSON is handed on as an `ImportFileError`
value, not raised, so that a keep-valid import can report it and go on to the next
line; what makes the rest of the file unreadable (a broken gzip stream, a line past
the length limit, the size cap) is raised.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import IO

from collection import payloads
from collection.imports.archives import ZIP_MAGIC, is_tar
from collection.imports.errors import ImportFileError, row_error, size_limit_message

MAX_LINE_BYTES = 1_000_000
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
ARROW_FILE_MAGIC = b"ARROW1"
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"
HEAD_BYTES = 512  # of a gzipped file: enough to see a tar header's "ustar"

Row = dict | ImportFileError  # a row of the file, or why that row cannot be read


class Capped:
    """A binary stream that refuses to be read past ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int):
        self.stream, self.limit, self.read_bytes, self.lines = stream, limit, 0, 0

    def readline(self, size: int = -1) -> bytes:
        raw = self.stream.readline(size)
        self.read_bytes += len(raw)
        self.lines += 1
        if self.read_bytes > self.limit:
            raise ImportFileError(size_limit_message(self.limit), line=self.lines, status=413)
        return raw


class _Prefixed:
    """A stream whose first bytes were read to see what it holds, put back in front."""

    def __init__(self, head: bytes, stream: IO[bytes]):
        self.head, self.stream = head, stream

    def readline(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.readline(size)
        newline = self.head.find(b"\n")
        if newline >= 0 and (size < 0 or newline < size):
            line, self.head = self.head[: newline + 1], self.head[newline + 1 :]
            return line
        if 0 <= size <= len(self.head):
            line, self.head = self.head[:size], self.head[size:]
            return line
        line, self.head = self.head, b""
        rest = self.stream.readline(-1 if size < 0 else size - len(line))
        return line + rest


def _peek(stream: IO[bytes], n: int = 8) -> tuple[bytes, IO[bytes]]:
    if getattr(stream, "seekable", lambda: False)():
        start = stream.tell()
        head = stream.read(n)
        stream.seek(start)
        return head, stream
    head = stream.read(n)
    return head, _Prefixed(head, stream)


def container(stream: IO[bytes]) -> tuple[str, IO[bytes]]:
    """What the bytes are ("text", "parquet", "arrow-file", "arrow-stream", or an archive
    of a dataset folder, "zip" or "tar" for a .tar.gz) and a stream to read them from;
    gzip is taken off text files here, whatever the file is called."""
    seekable = getattr(stream, "seekable", lambda: False)()
    start = stream.tell() if seekable else 0
    head, stream = _peek(stream)
    if head.startswith(ZIP_MAGIC):
        return "zip", stream
    if head.startswith(GZIP_MAGIC):
        unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
        try:
            inner = unzipped.read(HEAD_BYTES)
        except (OSError, EOFError, zlib.error) as error:
            raise ImportFileError(f"Not a readable gzip file ({error}).") from error
        if inner.startswith((PARQUET_MAGIC, ARROW_FILE_MAGIC, ARROW_STREAM_MAGIC)):
            raise ImportFileError("Parquet and Arrow files are read as they are, not gzipped.")
        if is_tar(inner):
            if not seekable:
                raise ImportFileError("A .tar.gz archive must be sent as a file.", field="file")
            stream.seek(start)  # tarfile takes the gzip layer off itself
            return "tar", stream
        return "text", _Prefixed(inner, unzipped)
    if head.startswith(PARQUET_MAGIC):
        return "parquet", stream
    if head.startswith(ARROW_FILE_MAGIC):
        return "arrow-file", stream
    if head.startswith(ARROW_STREAM_MAGIC):
        return "arrow-stream", stream
    return "text", stream


def lines(stream: IO[bytes]) -> Iterator[tuple[int, str | ImportFileError]]:
    """(line number, text) for each non-blank line, decoded as UTF-8 strictly; a line
    that is not UTF-8 comes as an error in place of its text."""
    number = 0
    seen_any = False
    while True:
        try:
            raw = stream.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as error:
            # gzip: a damaged or cut-off stream cannot be read past this point.
            raise ImportFileError(
                f"The gzip stream is damaged or cut off after line {number} ({error}).",
                line=number + 1,
            ) from error
        if not raw:
            break
        number += 1
        seen_any = True
        if len(raw) > MAX_LINE_BYTES:
            raise ImportFileError(f"Longer than {MAX_LINE_BYTES} bytes.", line=number)
        try:
            # surrogatepass lets encoded lone surrogates through to the text checks,
            # which name the field they are in; any other bad byte stops here.
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            yield (
                number,
                ImportFileError(
                    f"Not valid UTF-8 (byte {error.start + 1} of the line). Save the file as "
                    "UTF-8.",
                    line=number,
                ),
            )
            continue
        if text.strip():
            yield number, text
    if not seen_any:
        raise ImportFileError("The file is empty.")


def json_rows(stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    """Each line as a JSON object (or the reason it is not one)."""
    for number, text in lines(stream):
        if isinstance(text, ImportFileError):
            yield number, text
            continue
        try:
            row = payloads.loads(text)
        except json.JSONDecodeError as error:
            hint = "" if text.endswith("\n") else " (the file may be cut off)"
            yield number, ImportFileError(f"Not valid JSON: {error.msg}{hint}.", line=number)
            continue
        except payloads.PayloadError as error:
            yield number, row_error(error, number)
            continue
        if not isinstance(row, dict):
            yield number, ImportFileError("Each line must be a JSON object.", line=number)
            continue
        yield number, row
