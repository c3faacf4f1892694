"""Token authentication for scripts: `Authorization: Token <key>` (or `Bearer <key>`)."""

from __future__ import annotations

import functools
import hashlib
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from collection.models import ApiToken, Participant
from collection.models.rows import _columns, _instances
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
        token = _live_token(token_hash(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return (token.user, token)

    def authenticate_header(self, request):
        return "Token"


@functools.cache
def _token_sql() -> str:
    user = get_user_model()
    return f"""
SELECT {_columns(ApiToken, "t")}, {_columns(user, "u")}, {_columns(Participant, "p")}
FROM {ApiToken._meta.db_table} t
JOIN {user._meta.db_table} u ON u.{user._meta.pk.column} = t.user_id
LEFT JOIN {Participant._meta.db_table} p ON p.user_id = u.{user._meta.pk.column}
WHERE t.key_hash = %s AND t.revoked_at IS NULL
"""


def _live_token(key_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash, its user and their participant loaded, read on
    every request (so a revocation counts from the next one). Every API request starts
    here, so it is written out in SQL: the ORM took about 1 ms of Python to build the
    same query with its two joins (benchmarks/README.md, "Submitting judgements")."""
    user_model = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user, participant = _instances(row, ApiToken, user_model, Participant)
    if participant.pk is None:  # the LEFT JOIN found none
        participant = None
    ApiToken.user.field.set_cached_value(token, user)
    user_model.participant.related.set_cached_value(user, participant)
    if participant is not None:
        Participant.user.field.set_cached_value(participant, user)
    return token
