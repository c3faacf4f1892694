"""Storing an import's rows: each validated by `collection.payloads` and streamed into
PostgreSQL with COPY inside one transaction, with the slots of the new items.

All or nothing by default: the first bad row aborts everything, and its error names
the line and the field. In keep-valid mode every valid row is stored and each rejected
one is reported with its number and reason.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from collection import payloads
from collection.imports.errors import ImportFileError, Rejected, row_error
from collection.imports.reading import Row
from collection.imports.sources import FORMATS, rows_open
from collection.models import Campaign
from collection.slots import campaign_lock_slots, campaign_sync_slots

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
MODES = ("all", "keep_valid")
# A keep-valid report lists this many rejected lines and counts the rest.
REPORT_MAX_LINES = 1_000


@dataclass
class Shapes:
    """What the stored items hold that a reader of the source file would want counted:
    candidates that go on for several turns, empty replies, and texts that begin with a
    space (kept as they are; HH-RLHF has such turns after ``Assistant:``)."""

    multi_turn_items: int = 0
    empty_replies: int = 0
    leading_space_items: int = 0

    def add(self, prompt: str, context: dict | None, payload: dict) -> None:
        candidates = payload.get("candidates") or []
        if "response" in payload:
            candidates = [payload["response"]]
        self.multi_turn_items += any(len(c.get("messages") or ()) > 1 for c in candidates)
        self.empty_replies += sum(c.get("text") == "" for c in candidates)
        texts = [prompt, *(m["content"] for m in (context or {}).get("messages") or ())]
        for candidate in candidates:
            texts += [candidate.get("text") or ""]
            texts += [m["content"] for m in candidate.get("messages") or ()]
        self.leading_space_items += any(text[:1].isspace() for text in texts)

    def lines(self) -> list[str]:
        """Each count that is not zero, in words, for the CLI and the import page."""

        def items(n: int) -> str:
            return "item" if n == 1 else "items"

        n = self.multi_turn_items, self.empty_replies, self.leading_space_items
        counted = [
            (n[0], f"{items(n[0])} with a multi-turn candidate (the conversations part early)"),
            (
                n[1],
                "empty reply, kept as an empty candidate"
                if n[1] == 1
                else "empty replies, kept as empty candidates",
            ),
            (n[2], f"{items(n[2])} with a text that begins with a space, kept as it is"),
        ]
        return [f"{count} {what}." for count, what in counted if count]


@dataclass
class ImportResult:
    created: int
    campaign: str
    format: str
    mode: str = "all"
    rejected: list[Rejected] = field(default_factory=list)  # the first REPORT_MAX_LINES
    rejected_count: int = 0
    shapes: Shapes = field(default_factory=Shapes)
    unit: str = "Line"  # what rows_read counts: "Line" or "Row"

    @property
    def rows_read(self) -> int:
        return self.created + self.rejected_count


class _Report:
    """The rejected lines of a keep-valid import."""

    def __init__(self) -> None:
        self.listed: list[Rejected] = []
        self.count = 0

    def add(self, error: ImportFileError) -> None:
        self.count += 1
        if len(self.listed) < REPORT_MAX_LINES:
            self.listed.append(Rejected.of(error))


def _validated(
    campaign: Campaign,
    rows: Iterable[tuple[int, Row]],
    seen: dict[str, int],
    prompts_only: bool = False,
    *,
    report: _Report | None = None,
    existing: set[str] | None = None,
    unit: str = "Line",
    shapes: Shapes | None = None,
) -> Iterator[tuple]:
    """COPY rows for valid items; ``seen`` collects external_id -> line number.

    Without a ``report`` the first bad row raises; with one, bad rows are added to it
    and left out. No query may run here: the connection is busy with COPY while this
    yields (``existing``, the campaign's external ids, is read before).
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
            if isinstance(row, ImportFileError):
                raise row
            yield _copy_row(campaign, number, row, rules, seen, existing, unit, now, shapes)
        except ImportFileError as error:
            if report is None:
                raise
            report.add(error)


def _copy_row(campaign, number, row, rules, seen, existing, unit, now, shapes) -> tuple:
    try:
        clean = payloads.validate_item(
            prompt=row.get("prompt"),
            context=row.get("context"),
            payload=row.get("payload"),
            expected=row.get("expected"),
            **rules,
        )
    except payloads.PayloadError as error:
        raise row_error(error, number, unit) from error
    external_id = row.get("external_id")
    if external_id is not None:
        external_id = str(external_id).strip() or None
    if external_id is not None:
        try:
            payloads.check_text(external_id, "external_id")
        except payloads.PayloadError as error:
            raise row_error(error, number, unit) from error
        if len(external_id) > 200:
            raise ImportFileError(
                "At most 200 characters.", line=number, field="external_id", unit=unit
            )
        if external_id in seen:
            raise ImportFileError(
                f"external_id {external_id!r} appears twice in the file "
                f"(first on {unit.lower()} {seen[external_id]}).",
                line=number,
                field="external_id",
                unit=unit,
            )
        if existing is not None and external_id in existing:
            raise ImportFileError(
                f"An item with external_id {external_id!r} exists already in this campaign.",
                line=number,
                field="external_id",
                unit=unit,
            )
        seen[external_id] = number
    try:
        # JSON lines always dump; Parquet and Arrow rows may hold values JSON has no
        # form for (bytes, dates) deep inside a payload the validators pass on.
        context, payload, expected = (
            None if value is None else json.dumps(value)
            for value in (clean["context"], clean["payload"], clean["expected"])
        )
    except (TypeError, ValueError) as error:
        raise ImportFileError(
            f"Holds a value JSON cannot store ({error}).", line=number, field="payload", unit=unit
        ) from error
    if shapes is not None:
        shapes.add(clean["prompt"], clean["context"], clean["payload"])
    return (
        campaign.pk,
        external_id,
        clean["prompt"],
        context,
        payload,
        clean["expected"] is not None,
        expected,
        now,
    )


DUPLICATE_KEY = re.compile(r"Key \(campaign_id, external_id\)=\(\d+, (.*)\) already exists")


def _clash(error: Exception, seen: dict[str, int], unit: str) -> ImportFileError:
    match = DUPLICATE_KEY.search(str(error))
    external_id = match.group(1) if match else None
    return ImportFileError(
        f"An item with external_id {external_id!r} exists already in this campaign.",
        line=seen.get(external_id),
        field="external_id",
        unit=unit,
    )


def items_insert(
    *,
    campaign: Campaign,
    rows: Iterable[tuple[int, Row]],
    prompts_only: bool = False,
    report: _Report | None = None,
    unit: str = "Line",
    shapes: Shapes | None = None,
) -> int:
    """Insert numbered item rows into the campaign; returns the count.

    All or none, unless a ``report`` is given: then the bad rows go into it and the
    others are stored. ``prompts_only``: preference items may come without candidates,
    for a generation job to fill; they get no slots (and are not served) until they
    have two.
    """
    count = 0
    seen: dict[str, int] = {}
    with transaction.atomic():
        # Before reading where this import's items start: another import into this
        # campaign committing after that read would have its items given slots twice.
        campaign_lock_slots(campaign=campaign)
        existing = None
        if report is not None:
            existing = set(
                campaign.items.filter(
                    superseded_at__isnull=True, external_id__isnull=False
                ).values_list("external_id", flat=True)
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM collection_item")
            before = cursor.fetchone()[0]
        valid = _validated(
            campaign,
            rows,
            seen,
            prompts_only,
            report=report,
            existing=existing,
            unit=unit,
            shapes=shapes,
        )
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # The raw psycopg cursor: Django's wrapper has no COPY.
                columns = ", ".join(COPY_COLUMNS)
                with cursor.cursor.copy(f"COPY collection_item ({columns}) FROM STDIN") as copy:
                    for values in valid:
                        copy.write_row(values)
                        count += 1
        except (IntegrityError, psycopg.IntegrityError) as error:
            raise _clash(error, seen, unit) from error
        if count == 0:
            if report is not None and report.count:
                error = ImportFileError(
                    f"No valid items: all {report.count} rows were rejected "
                    f"(the first: {report.listed[0]})."
                )
                error.rejected = report.listed
                raise error
            raise ImportFileError("The file has no items.")
        campaign_sync_slots(campaign=campaign, new_items_after=before)
    return count


def items_import(
    *,
    campaign: Campaign,
    stream: IO[bytes] | Path,
    file_format: str,
    max_bytes: int | None = None,
    prompts_only: bool = False,
    mode: str = "all",
) -> ImportResult:
    """Import the items of a file (or of a folder a `datasets` dataset was saved to).

    ``mode`` "all" (the default) stores every item or none; "keep_valid" stores the
    valid ones and reports each rejected row. Reading stops once ``max_bytes`` (default
    ``settings.IMPORT_MAX_BYTES``; 0 for none) have been read, and nothing is stored.
    """
    if mode not in MODES:
        raise ImportFileError(f"Unknown mode; use one of {', '.join(MODES)}.", field="mode")
    if isinstance(stream, io.TextIOBase):
        raise TypeError("items_import reads bytes; open the file in binary mode")
    limit = settings.IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    opened = rows_open(stream, file_format, limit=limit)
    report = _Report() if mode == "keep_valid" else None
    shapes = Shapes()
    created = items_insert(
        campaign=campaign,
        rows=opened.rows,
        prompts_only=prompts_only,
        report=report,
        unit=opened.unit,
        shapes=shapes,
    )
    return ImportResult(
        created=created,
        campaign=campaign.slug,
        format=opened.format,
        mode=mode,
        rejected=report.listed if report else [],
        rejected_count=report.count if report else 0,
        shapes=shapes,
        unit=opened.unit,
    )


__all__ = ["FORMATS", "MODES", "ImportResult", "Shapes", "items_import", "items_insert"]
