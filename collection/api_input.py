"""What the HTTP layer accepts before any view runs: body sizes, query strings and
JSON bodies.

The rules for stored text and JSON are `collection.payloads.check_text` and
`check_json`; this module applies them to the doors Django and DRF open
themselves (the JSON parser, the query string), so a NUL, a lone surrogate, a
10,000-level array or a 5,000-digit number gets a 4xx naming the field instead
of reaching PostgreSQL or Python's recursion limit.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from collection import payloads
from collection.imports import size_limit_message


class InputRejected(APIException):
    """A 400 in the house's error shape, {"detail", "code", "field"}."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        detail = {"detail": message, "code": code}
        if field:
            detail["field"] = field
        super().__init__(detail)


class CheckedJSONParser(JSONParser):
    """DRF's JSON parser with the payload rules for every string, number and depth."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        # Bounded by the middleware's check of Content-Length; read one byte more
        # than allowed all the same, in case a server passes a body without it.
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise BodyTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            # surrogatepass: an encoded lone surrogate is named by the text check below.
            text = raw.decode(encoding, "surrogatepass")
        except (UnicodeDecodeError, LookupError) as error:
            where = f" (byte {error.start + 1})" if isinstance(error, UnicodeDecodeError) else ""
            raise ParseError(f"The body is not valid {encoding}{where}.") from error
        try:
            return payloads.loads(text)
        except json.JSONDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from error
        except payloads.PayloadError as error:
            raise InputRejected(error.message, field=error.field) from error


class BodyTooLarge(APIException):
    status_code = 413
    default_code = "too_large"

    def __init__(self, limit: int):
        super().__init__(
            {"detail": f"The request body is larger than {limit:,} bytes.", "code": "too_large"}
        )


class RequestLimitsMiddleware:
    """Refuse an oversized body before anything reads it, and a NUL in the URL.

    File uploads (multipart) may be as large as an import (IMPORT_MAX_BYTES);
    every other body as DATA_UPLOAD_MAX_MEMORY_SIZE. Refusing on Content-Length
    means the body is never read: Django reads at most that many bytes. Query
    strings cannot carry lone surrogates (Django decodes them with replacement),
    but a %00 would reach a filter and PostgreSQL, which refuses NUL in text.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body then either
        if request.content_type == "multipart/form-data":
            limit = settings.IMPORT_MAX_BYTES
            message = size_limit_message(limit) + (
                " Split the file, or ask an admin to raise PLURALIGN_IMPORT_MAX_BYTES."
            )
            field = "file"
        else:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            message, field = f"The request body is larger than {limit:,} bytes.", None
        if limit and length > limit:
            return _refusal(request, 413, "too_large", message, field)
        if "\x00" in request.path:
            return _refusal(request, 400, "invalid", "The address contains a NUL character.", None)
        for name, values in request.GET.lists():
            for value in (name, *values):
                try:
                    payloads.check_text(value, payloads.field_name(name))
                except payloads.PayloadError as error:
                    return _refusal(request, 400, "invalid", error.message, error.field)
        return self.get_response(request)


def _refusal(
    request: HttpRequest, status: int, code: str, message: str, field: str | None
) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"detail": message, "code": code}
        if field:
            body["field"] = field
        return JsonResponse(body, status=status)
    return render(
        request,
        "collection/problem.html",
        {
            "message": f"{field}: {message}" if field else message,
            "campaign": None,
            "status": status,
        },
        status=status,
    )
