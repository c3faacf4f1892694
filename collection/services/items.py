"""Items: create, append generated candidates, check an import file before importing it."""

from __future__ import annotations

import dataclasses
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
    """Add generated candidates to a preference item; it becomes servable at two.

    Each candidate is ``{"text", "source", "generation": {"request": id, ...}}``; one
    whose generation request is on the item already is left out, so a job that runs
    again after a killed worker adds nothing twice. Ids continue a, b, c....
    """
    item = Item.objects.select_for_update().select_related("campaign").get(pk=item_id)
    campaign = item.campaign
    if not kinds.get(campaign.item_kind).has_candidates:
        raise ServiceError("Only preference items have candidates.", field="item")
    present = list(item.candidates)
    done = {(c.get("generation") or {}).get("request") for c in present} - {None}
    used = {c["id"] for c in present}
    free = (letter for letter in "abcdefghi" if letter not in used)
    for candidate in candidates:
        if (candidate.get("generation") or {}).get("request") in done:
            continue
        present.append({"id": next(free, f"g{len(present)}"), **candidate})
    try:
        clean = payloads.validate_item_payload(
            campaign.item_kind,
            {"candidates": present},
            preference_format=campaign.preference_format,
            prompts_only=True,
        )
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    was_servable = len(item.candidates) >= 2
    item.payload = clean
    item.save(update_fields=["payload"])
    if not was_servable and len(clean["candidates"]) >= 2 and not item.is_attention_check:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO collection_slot (campaign_id, audience_id, item_id, index, filled)
                SELECT t.campaign_id, t.audience_id, %s, s.n, false
                FROM collection_campaignaudience t
                CROSS JOIN LATERAL generate_series(0, t.overlap_k - 1) AS s(n)
                WHERE t.campaign_id = %s
                ORDER BY t.audience_id, s.n
                ON CONFLICT (item_id, audience_id, index) DO NOTHING
                """,
                [item.pk, campaign.pk],
            )
    return item


@dataclasses.dataclass
class ImportCheck:
    """What an import of a file would do: its first rows and every bad line found."""

    rows: int
    preview: list[dict]
    errors: list[str]


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
    return ImportCheck(rows=rows, preview=preview, errors=errors)
