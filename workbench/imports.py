"""Importing items from a file: check every row first, then import all or nothing; or
keep the valid rows and list each rejected one.

The all-or-nothing report lists each bad line as the import would name it; when there
is none the same file is imported by `collection.imports.items_import`, as the API does.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from collection import imports, services
from workbench.access import managed_campaign
from workbench.forms import ImportForm


def _all_or_nothing(campaign, upload, file_format: str) -> dict:
    try:
        check = services.items_check(campaign=campaign, stream=upload.file, file_format=file_format)
        result = None
        if not check.errors:
            upload.seek(0)
            result = imports.items_import(
                campaign=campaign, stream=upload.file, file_format=file_format
            )
    except (services.ServiceError, imports.ImportFileError) as error:
        check = services.ImportCheck(rows=0, preview=[], errors=[str(error)], status=error.status)
        result = None
    return {
        "status": check.status,
        "rows": check.rows,
        "errors": check.errors,
        "created": result.created if result else 0,
        "shapes": result.shapes.lines() if result else [],
        "preview": [
            # default=str: a Parquet row may hold bytes or dates, which JSON has no form for.
            {
                "line": row["line"],
                "text": json.dumps(row["row"], ensure_ascii=False, default=str)[:300],
            }
            for row in check.preview
        ],
    }


def _keep_valid(campaign, upload, file_format: str) -> dict:
    try:
        result = imports.items_import(
            campaign=campaign, stream=upload.file, file_format=file_format, mode="keep_valid"
        )
    except imports.ImportFileError as error:
        return {
            "errors": [str(error), *map(str, error.rejected)],
            "status": error.status,
            "rows": 0,
            "created": 0,
        }
    return {
        "keep_valid": True,
        "errors": [],
        "created": result.created,
        "format": result.format,
        "rejected": [str(row) for row in result.rejected],
        "rejected_count": result.rejected_count,
        "rejected_unlisted": result.rejected_count - len(result.rejected),
        "shapes": result.shapes.lines() if result else [],
    }


@login_required
def item_import(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = managed_campaign(request, slug)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        run = _keep_valid if form.cleaned_data["keep_valid"] else _all_or_nothing
        report = {"name": upload.name, **run(campaign, upload, form.cleaned_data["format"])}
        if report["errors"]:
            status = report["status"]
    return render(
        request,
        "workbench/item_import.html",
        {"campaign": campaign, "form": form, "report": report, "formats": imports.FORMATS},
        status=status,
    )
