"""Item imports from files: native JSONL, CSV and Anthropic's HH-RLHF JSONL.

A file is read line by line (never whole), each row is validated by
`collection.payloads` and streamed into PostgreSQL with COPY inside one
transaction: the first bad row aborts everything, and its error names the line
and the field. Reading stops at ``settings.IMPORT_MAX_BYTES`` (or the caller's
cap). Formats are documented in the README.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from collection import payloads
from collection.models import Campaign
from collection.slots import campaign_lock_slots, campaign_sync_slots

FORMATS = ("jsonl", "csv", "hh-rlhf")
MAX_LINE_BYTES = 1_000_000
COPY_COLUMNS = (
    "campaign_id",
    "external_id",
    "prompt",
    "context",
    "payload",
    "is_attention_check",
    "expected",
    "created_at",
)


class ImportFileError(ValueError):
    """A file that cannot be imported; nothing was stored."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        status: int = 400,
    ):
        where = f"Line {line}: " if line else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")
        self.line = line
        self.field = field
        self.message = message
        self.status = status


def size_limit_message(limit: int) -> str:
    return f"The file is larger than the import limit of {limit:,} bytes ({limit / 2**20:.0f} MiB)."


class _Capped:
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


def _row_error(error: payloads.PayloadError, number: int) -> ImportFileError:
    return ImportFileError(error.message, line=number, field=error.field)


@dataclass(frozen=True)
class ImportResult:
    created: int
    campaign: str
    format: str


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line, decoded as UTF-8 strictly."""
    number = 0
    seen_any = False
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
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
            raise ImportFileError(
                f"Not valid UTF-8 (byte {error.start + 1} of the line). Save the file as UTF-8.",
                line=number,
            ) from error
        if text.strip():
            yield number, text
    if not seen_any:
        raise ImportFileError("The file is empty.")


def _json_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    for number, text in _lines(stream):
        try:
            row = payloads.loads(text)
        except json.JSONDecodeError as error:
            hint = "" if text.endswith("\n") else " (the file may be cut off)"
            raise ImportFileError(f"Not valid JSON: {error.msg}{hint}.", line=number) from error
        except payloads.PayloadError as error:
            raise _row_error(error, number) from error
        if not isinstance(row, dict):
            raise ImportFileError("Each line must be a JSON object.", line=number)
        yield number, row


def native_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    """JSONL: {"external_id", "prompt", "context", "payload", "expected"} per line."""
    for number, row in _json_rows(stream):
        unknown = sorted(set(row) - {"external_id", "prompt", "context", "payload", "expected"})
        if unknown:
            raise ImportFileError("Unknown field.", line=number, field=unknown[0])
        yield number, row


CSV_CANDIDATES = "abcdefghi"


def csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    """CSV with a header row. Columns (all optional but prompt/question as the kind needs):
    external_id, prompt, situation, persona, context_messages (JSON list),
    candidate_a..candidate_i with source_a..source_i, draft, question,
    reference_answer, sources (separated by |), expected (JSON)."""
    lines = _lines(stream)

    class Reader:
        # csv wants an iterator of str; remember which file line each record started on.
        line = 0

        def __iter__(self):
            return self

        def __next__(self):
            self.line, text = next(lines)
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
            raise _row_error(error, 1) from error
    known = {
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
    }
    known |= {f"candidate_{c}" for c in CSV_CANDIDATES} | {f"source_{c}" for c in CSV_CANDIDATES}
    unknown = [name for name in header if name not in known]
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
            raise ImportFileError("More cells than header columns.", line=number)
        try:
            row = _csv_record(record, number)
        except payloads.PayloadError as error:
            raise _row_error(error, number) from error
        yield number, row


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


HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"


def parse_hh_transcript(text: str) -> list[dict]:
    """Split an HH-RLHF transcript into {role, content} turns."""
    turns: list[dict] = []
    position = 0
    markers = {HUMAN: "user", ASSISTANT: "assistant"}
    while True:
        starts = [(text.find(marker, position), marker) for marker in markers]
        starts = [(index, marker) for index, marker in starts if index >= 0]
        if not starts:
            break
        index, marker = min(starts)
        if not turns and text[:index].strip():
            raise ValueError("text before the first Human: turn")
        if turns:
            turns[-1]["content"] = text[position:index].strip()
        turns.append({"role": markers[marker], "content": ""})
        position = index + len(marker)
    if not turns:
        raise ValueError("no \\n\\nHuman: or \\n\\nAssistant: turns")
    turns[-1]["content"] = text[position:].strip()
    return turns


def hh_rlhf_rows(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    """HH-RLHF: {"chosen": transcript, "rejected": transcript} per line.

    The turns both transcripts share become the item's conversation context, the
    last human turn its prompt, and the two final assistant replies its
    candidates, in an order fixed by a hash of the line (so annotators cannot
    learn that "a" was the original choice). Sources record the original label.
    """
    for number, row in _json_rows(stream):
        for key in ("chosen", "rejected"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ImportFileError(
                    "Must be a non-empty transcript string.", line=number, field=key
                )
        try:
            chosen, rejected = (
                parse_hh_transcript(row["chosen"]),
                parse_hh_transcript(row["rejected"]),
            )
        except ValueError as error:
            raise ImportFileError(f"Not an HH-RLHF transcript: {error}.", line=number) from error
        if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            raise ImportFileError("A transcript must end with an Assistant: turn.", line=number)
        if chosen[:-1] != rejected[:-1]:
            raise ImportFileError(
                "chosen and rejected must share every turn but the last.", line=number
            )
        history = chosen[:-1]
        if not history or history[-1]["role"] != "user":
            raise ImportFileError("The last turn before the replies must be Human:.", line=number)
        replies = [
            {"text": chosen[-1]["content"], "source": "hh-rlhf:chosen"},
            {"text": rejected[-1]["content"], "source": "hh-rlhf:rejected"},
        ]
        digest = hashlib.sha256(f"{number}:{row['chosen']}".encode()).digest()
        if digest[0] % 2:
            replies.reverse()
        yield (
            number,
            {
                "external_id": row.get("external_id") or row.get("id"),
                "prompt": history[-1]["content"],
                "context": {"messages": history[:-1]} if len(history) > 1 else None,
                "payload": {
                    "candidates": [{"id": "ab"[i], **reply} for i, reply in enumerate(replies)]
                },
            },
        )


READERS = {"jsonl": native_rows, "csv": csv_rows, "hh-rlhf": hh_rlhf_rows}


def _validated(
    campaign: Campaign,
    rows: Iterable[tuple[int, dict]],
    seen: dict[str, int],
    prompts_only: bool = False,
) -> Iterator[tuple]:
    """COPY rows for valid items; ``seen`` collects external_id -> line number.

    No query may run here: the connection is busy with COPY while this yields.
    """
    rules = {
        "kind": campaign.item_kind,
        "episodic": campaign.is_episodic,
        "preference_format": campaign.preference_format,
        "prompts_only": prompts_only,
    }  # Item.clean passes the same rules
    now = timezone.now()
    for number, row in rows:
        try:
            clean = payloads.validate_item(
                prompt=row.get("prompt"),
                context=row.get("context"),
                payload=row.get("payload"),
                expected=row.get("expected"),
                **rules,
            )
        except payloads.PayloadError as error:
            raise _row_error(error, number) from error
        external_id = row.get("external_id")
        if external_id is not None:
            external_id = str(external_id).strip() or None
        if external_id is not None:
            try:
                payloads.check_text(external_id, "external_id")
            except payloads.PayloadError as error:
                raise _row_error(error, number) from error
            if len(external_id) > 200:
                raise ImportFileError("At most 200 characters.", line=number, field="external_id")
            if external_id in seen:
                raise ImportFileError(
                    f"external_id {external_id!r} appears twice in the file "
                    f"(first on line {seen[external_id]}).",
                    line=number,
                    field="external_id",
                )
            seen[external_id] = number
        yield (
            campaign.pk,
            external_id,
            clean["prompt"],
            None if clean["context"] is None else json.dumps(clean["context"]),
            json.dumps(clean["payload"]),
            clean["expected"] is not None,
            None if clean["expected"] is None else json.dumps(clean["expected"]),
            now,
        )


DUPLICATE_KEY = re.compile(r"Key \(campaign_id, external_id\)=\(\d+, (.*)\) already exists")


def _clash(error: Exception, seen: dict[str, int]) -> ImportFileError:
    match = DUPLICATE_KEY.search(str(error))
    external_id = match.group(1) if match else None
    return ImportFileError(
        f"An item with external_id {external_id!r} exists already in this campaign.",
        line=seen.get(external_id),
        field="external_id",
    )


def items_insert(
    *, campaign: Campaign, rows: Iterable[tuple[int, dict]], prompts_only: bool = False
) -> int:
    """Insert numbered item rows into the campaign, all or none; returns the count.

    ``prompts_only``: preference items may come without candidates, for a generation
    job to fill; they get no slots (and are not served) until they have two.
    """
    count = 0
    seen: dict[str, int] = {}
    with transaction.atomic():
        # Before reading where this import's items start: another import into this
        # campaign committing after that read would have its items given slots twice.
        campaign_lock_slots(campaign=campaign)
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM collection_item")
            before = cursor.fetchone()[0]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # The raw psycopg cursor: Django's wrapper has no COPY.
                columns = ", ".join(COPY_COLUMNS)
                with cursor.cursor.copy(f"COPY collection_item ({columns}) FROM STDIN") as copy:
                    for values in _validated(campaign, rows, seen, prompts_only):
                        copy.write_row(values)
                        count += 1
        except (IntegrityError, psycopg.IntegrityError) as error:
            raise _clash(error, seen) from error
        if count == 0:
            raise ImportFileError("The file has no items.")
        campaign_sync_slots(campaign=campaign, new_items_after=before)
    return count


def items_import(
    *,
    campaign: Campaign,
    stream: IO[bytes],
    file_format: str,
    max_bytes: int | None = None,
    prompts_only: bool = False,
) -> ImportResult:
    """Import every item of the file into the campaign, or none of them.

    Reading stops once ``max_bytes`` (default ``settings.IMPORT_MAX_BYTES``; 0 for
    none) have been read, and nothing is stored.
    """
    if file_format not in READERS:
        raise ImportFileError(f"Unknown format; use one of {', '.join(FORMATS)}.", field="format")
    if isinstance(stream, io.TextIOBase):
        raise TypeError("items_import reads bytes; open the file in binary mode")
    limit = settings.IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    if limit:
        stream = _Capped(stream, limit)
    created = items_insert(
        campaign=campaign, rows=READERS[file_format](stream), prompts_only=prompts_only
    )
    return ImportResult(created=created, campaign=campaign.slug, format=file_format)
