"""Token authentication for scripts: `Authorization: Token <key>` (or `Bearer <key>`)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from collection.models import ApiToken
from collection.throttles import FailedTokenThrottle

# Writing last_used_at on every request would add a write to each judgement.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        failures = FailedTokenThrottle()
        wait = failures.wait_before_next_try(request)
        if wait is not None:
            raise exceptions.Throttled(wait, detail="Too many unknown API keys from your address.")
        try:
            return self._authenticate_key(header)
        except exceptions.AuthenticationFailed:
            failures.record_failure()
            raise

    def _authenticate_key(self, header: list[bytes]):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the key after the word Token.")
        try:
            key = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(
                "The key has characters it cannot have."
            ) from error
        token = (
            ApiToken.objects.select_related("user", "user__participant")
            .filter(key_hash=token_hash(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request):
        return "Token"
