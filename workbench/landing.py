"""Where a user lands after logging in: the page for what they mostly do here."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from collection.permissions import is_admin, is_researcher


@login_required
def landing(request: HttpRequest) -> HttpResponse:
    if is_admin(request.user):
        return redirect("coverage_dashboard")
    if is_researcher(request.user):
        return redirect("campaign_list")
    return redirect("home")
