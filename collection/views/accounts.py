"""Sign-up and the API tokens page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from collection import services
from collection.forms import SignupForm
from collection.models import ApiToken
from collection.throttles import SignupThrottle, TokenCreateThrottle
from collection.views.common import _next_url, _posted, _problem


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST" and not SignupThrottle().allow_request(request, None):
        return _problem(request, "Too many sign-ups from your network; try again later.", 429)
    form = SignupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            services.participant_get_or_create(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}.")
        return redirect(_next_url(request, reverse("home")))
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": _next_url(request, "")},
        status=400 if form.errors else 200,
    )


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Create and revoke the caller's own API tokens; a new key is shown once."""
    new_key = None
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                token = services.api_token_revoke(
                    user=request.user, token_id=int(request.POST["revoke"])
                )
                messages.success(request, f"Revoked “{token.name}”.")
                return redirect("api_tokens")
            if not TokenCreateThrottle().allow_request(request, None):
                messages.error(request, "Too many new tokens; try again later.")
                return redirect("api_tokens")
            _, new_key = services.api_token_create(
                user=request.user, name=request.POST.get("name", "")
            )
        except (services.ServiceError, ValueError) as error:
            messages.error(request, getattr(error, "message", "No such token."))
            return redirect("api_tokens")
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "collection/tokens.html", {"tokens": tokens, "new_key": new_key})
