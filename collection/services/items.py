"""Items: create, append generated candidates, check an import file before importing it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

from collection import imports, kinds, payloads
from collection.models import Campaign, Item
from collection.services.errors import ServiceError, payload_error


def items_create(*, campaign: Campaign, rows: Iterable[dict]) -> int:
    """Validate and insert items, all or nothing; each row as in the JSONL import format.

    Raises ServiceError naming the row (1-based) and field of the first bad row.
    """
    try:
        return imports.items_insert(campaign=campaign, rows=enumerate(rows, start=1))
    except imports.ImportFileError as error:
        raise ServiceError(str(error), field=error.field) from error


@transaction.atomic
def item_candidates_append(*, item_id: int, candidates: list[dict]) -> Item:
    """Add generated candidates to a preference item (it becomes servable at two), or
    a rating item's one response (servable then).

    Each candidate is ``{"text", "source", "generation": {"request": id, ...}}``; one
    whose generation request is on the item already is left out, so a job that runs
    again after a killed worker adds nothing twice. Ids continue a, b, c....
    """
    items, refused = items_candidates_append(candidates_by_item={item_id: candidates})
    if item_id in refused:
        raise refused[item_id]
    return items[item_id]


def _present(item: Item) -> list[dict]:
    """The item's responses so far: its candidates, or a rating item's one response."""
    response = item.payload.get("response")
    return list(item.candidates) if response is None else [response]


def _servable(payload: dict) -> bool:
    """`slots.SERVABLE_ITEM_SQL` on one payload: two candidates, or not a candidate list."""
    return len(payload.get("candidates", (None, None))) >= 2


def _merged(item: Item, candidates: list[dict]) -> list[dict]:
    present = _present(item)
    done = {(c.get("generation") or {}).get("request") for c in present} - {None}
    used = {c["id"] for c in present}
    free = (letter for letter in "abcdefghi" if letter not in used)
    for candidate in candidates:
        if (candidate.get("generation") or {}).get("request") in done:
            continue
        present.append({"id": next(free, f"g{len(present)}"), **candidate})
    return present


@transaction.atomic
def items_candidates_append(
    *, candidates_by_item: dict[int, list[dict]]
) -> tuple[dict[int, Item], dict[int, ServiceError]]:
    """`item_candidates_append` for many items in three statements: lock, update, slots.

    Returns (the items written, by id; the refusals, by id). A refused item is left
    as it was and the others are written. A generation job's loop writes its items
    in batches: one transaction per item cost three round trips each, which under a
    full pool of model calls left seconds of writing after the last reply.
    """
    ids = sorted(candidates_by_item)
    # The campaign row too, as imports and changes of k do (`slots.campaign_lock_slots`).
    found = Item.objects.select_for_update().select_related("campaign")
    items = {item.pk: item for item in found.filter(pk__in=ids).order_by("pk")}
    written: dict[int, Item] = {}
    refused: dict[int, ServiceError] = {}
    servable: list[int] = []
    for item_id in ids:
        item = items.get(item_id)
        if item is None:
            refused[item_id] = ServiceError("No such item.", field="item")
            continue
        kind = kinds.get(item.campaign.item_kind)
        if not (kind.has_candidates or kind.generated_responses):
            refused[item_id] = ServiceError("Only preference items have candidates.", field="item")
            continue
        try:
            clean = payloads.validate_item_payload(
                item.campaign.item_kind,
                {"candidates": _merged(item, candidates_by_item[item_id])},
                preference_format=item.campaign.preference_format,
                prompts_only=True,
            )
        except payloads.PayloadError as error:
            refused[item_id] = payload_error(error)
            continue
        if not _servable(item.payload) and _servable(clean) and not item.is_attention_check:
            servable.append(item_id)
        item.payload = clean
        written[item_id] = item
    with connection.cursor() as cursor:
        if written:
            cursor.executemany(
                "UPDATE collection_item SET payload = %s::jsonb WHERE id = %s",
                [(json.dumps(item.payload), item.pk) for item in written.values()],
            )
        if servable:
            cursor.execute(
                """
                INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
                SELECT t.campaign_id, t.audience_id, i.id, s.n, false
                FROM collection_item i
                JOIN collection_campaignaudience t ON t.campaign_id = i.campaign_id
                CROSS JOIN LATERAL generate_series(0, t.overlap_k - 1) AS s(n)
                WHERE i.id = ANY(%s)
                ORDER BY i.id, t.audience_id, s.n
                ON CONFLICT (item_id, audience_id, index) DO NOTHING
                """,
                [servable],
            )
    return written, refused


@dataclasses.dataclass
class ImportCheck:
    """What an import of a file would do: its first rows and every bad line found."""

    rows: int
    preview: list[dict]
    errors: list[str]
    status: int = 400  # what the errors answer: 413 when the file passes the size limit


IMPORT_PREVIEW_ROWS = 5
IMPORT_CHECK_MAX_ERRORS = 50


def items_check(*, campaign: Campaign, stream, file_format: str) -> ImportCheck:
    """Read the whole file as the import would and list each bad row with its line.

    A line that is not JSON or not UTF-8 is listed and the reading goes on; what
    leaves the rest unreadable (a damaged gzip stream, a CSV quote left open) ends it.
    """
    preview: list[dict] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    rows = 0
    unit = "Line"
    status = 400
    try:
        opened = imports.rows_open(stream, file_format, limit=settings.IMPORT_MAX_BYTES)
        unit = opened.unit
        for number, row in opened.rows:
            rows += 1
            if len(preview) < IMPORT_PREVIEW_ROWS and isinstance(row, dict):
                preview.append({"line": number, "row": row})
            try:
                # The import's own row check, one row at a time, so one bad row does
                # not hide the next.
                list(imports._validated(campaign, [(number, row)], seen, unit=opened.unit))
            except imports.ImportFileError as error:
                errors.append(str(error))
            if len(errors) >= IMPORT_CHECK_MAX_ERRORS:
                errors.append(f"Stopped after {IMPORT_CHECK_MAX_ERRORS} errors.")
                break
    except imports.ImportFileError as error:
        errors.append(str(error))
        status = error.status
    existing = set(
        campaign.items.filter(external_id__in=list(seen), superseded_at__isnull=True).values_list(
            "external_id", flat=True
        )
    )
    for external_id in sorted(existing, key=lambda name: seen[name]):
        errors.append(
            f"{unit} {seen[external_id]}: external_id: An item with external_id "
            f"{external_id!r} exists already in this campaign."
        )
    return ImportCheck(rows=rows, preview=preview, errors=errors, status=status)
