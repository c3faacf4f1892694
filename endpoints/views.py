"""Researchers' page for their model endpoints: list, register, test the connection."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from collection.permissions import is_researcher
from collection.services import ServiceError
from endpoints import selectors, services
from endpoints.forms import EndpointForm


def _researcher(request: HttpRequest) -> None:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers may manage model endpoints.")


@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    _researcher(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        fields = {name: value for name, value in form.cleaned_data.items() if name != "api_key"}
        try:
            services.endpoint_create(
                owner=request.user, api_key=form.cleaned_data["api_key"], **fields
            )
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Registered {fields['name']}.")
            return redirect("endpoint_list")
    return render(
        request,
        "endpoints/endpoint_list.html",
        {
            "endpoints": selectors.endpoints_usable_by(request.user),
            "form": form,
            "here": "endpoint_list",
        },
    )


@login_required
@require_POST
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    _researcher(request)
    endpoint = selectors.endpoints_usable_by(request.user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    check = services.endpoint_test_connection(endpoint=endpoint)
    if check.ok:
        messages.success(request, f"{endpoint.name}: {check.message}")
    else:
        messages.error(request, f"{endpoint.name}: {check.message}")
    return redirect("endpoint_list")
