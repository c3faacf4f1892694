"""Request rates per client (issue #10): DRF's throttles, with rates read from settings
on each request so `PLURALIGN_THROTTLING` and the rates can change without a restart
of the classes (DRF binds its own rate table at import). Counts live in the default
cache: one Redis cache shared by every process when `CACHE_URL` is set."""

from __future__ import annotations

from django.conf import settings
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RateFromSettings:
    scope: str

    def get_rate(self) -> str | None:
        if not settings.PLURALIGN_THROTTLING:
            return None
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    scope = "anon"


class UserThrottle(_RateFromSettings, throttling.UserRateThrottle):
    scope = "user"


class TokenCreateThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """New API keys per user; listing them is not limited beyond the user rate."""

    scope = "token_create"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class SignupThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Sign-up form posts per client IP (a plain Django view calls it)."""

    scope = "signup"


class ConversationAskThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Messages (and asks again) per participant in conversation campaigns: each one calls
    2-4 model endpoints, and the token budget is the campaign's, so without it one person
    asking and dropping replies could spend everybody's budget (a plain view calls it)."""

    scope = "conversation_ask"


class FailedTokenThrottle(_RateFromSettings, throttling.SimpleRateThrottle):
    """Bad API keys per client IP. Only failures count, but once over the limit the
    client is refused before its key is looked up, or a lucky guess would still pass."""

    scope = "token_failure"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def wait_before_next_try(self, request) -> float | None:
        """Seconds this client must wait before a key is checked again, or None."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.wait() or 1.0
        return None

    def record_failure(self) -> None:
        if self.rate is not None:
            self.throttle_success()
