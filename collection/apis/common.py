"""What every API module shares: the one error shape, pagination, who is asking.

Every class checks who is asking: researchers reach only campaigns they own
(`permissions.campaigns_managed_by`), annotators only their own work, and a
dyad's data only its member and its campaigns' researchers. Objects a caller may
not see answer 404, as if they did not exist.
"""

from __future__ import annotations

import dataclasses

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework import exceptions
from rest_framework.exceptions import APIException
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from collection import imports, services
from collection.apis.errors import error_body
from collection.models import Campaign
from collection.permissions import campaigns_managed_by


def exception_handler(exc, context):
    """Service and import refusals become 4xx answers naming the field or line; every
    other refusal is put in the same shape (`collection.apis.errors`)."""
    if isinstance(exc, services.ServiceError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return ApiResponse(body, status=exc.status)
    if isinstance(exc, imports.ImportFileError):
        body = {"detail": str(exc), "code": "too_large" if exc.status == 413 else "invalid_file"}
        if exc.line:
            body["line"] = exc.line
        if exc.field:
            body["field"] = exc.field
        if exc.rejected:
            body["rejected"] = [dataclasses.asdict(row) for row in exc.rejected]
        return ApiResponse(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException | Http404 | PermissionDenied):
        if isinstance(exc, Http404):
            exc = exceptions.NotFound(str(exc) or None)
        elif isinstance(exc, PermissionDenied):
            exc = exceptions.PermissionDenied(str(exc) or None)
        response.data = error_body(exc)
    return response


def paginate(view: APIView, request, queryset, serializer_class, context: dict | None = None):
    paginator = view.pagination_class() if view.pagination_class else None
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data)


class ListAPIView(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS


def one_path(*apis: type[APIView]) -> type[APIView]:
    """One URL for several operations, each its own API class (list and create apart).

    Clients keep the paths they use (``GET`` and ``POST /campaigns/``) while each
    operation keeps its own serializers, throttles and pagination: a request is
    handed to the class that answers its method. The schema generator instantiates
    the returned class and reads each method (and its ``extend_schema``) from the
    class that defines it, through ordinary inheritance.
    """
    views = {
        method: api.as_view()
        for api in apis
        for method in api.http_method_names
        if method not in ("options", "head") and hasattr(api, method)
    }

    def dispatch(self, request, *args, **kwargs):
        method = request.method.lower()
        view = views.get("get" if method == "head" else method)
        if view is None:  # OPTIONS, or a method nobody answers (405)
            return APIView.dispatch(self, request, *args, **kwargs)
        return view(request, *args, **kwargs)

    name = "".join(api.__name__.removesuffix("Api") for api in apis) + "Api"
    return type(name, apis, {"dispatch": dispatch, "__module__": apis[0].__module__})


def participant_of(request):
    return services.participant_get_or_create(user=request.user)


def managed_campaign(request, slug: str) -> Campaign:
    return get_object_or_404(campaigns_managed_by(request.user), slug=slug)


def known_slug(queryset, slug: str, *, field: str, what: str) -> None:
    """A filter naming nothing the caller can see is bad input (400 naming the filter),
    not an empty list that looks like "no data yet"."""
    if not queryset.filter(slug=slug).exists():
        raise services.ServiceError(f"No {what} {slug!r} among those you can see.", field=field)
