"""API tokens: create (the secret is shown once) and revoke."""

from __future__ import annotations

import secrets

from django.utils import timezone

from collection import payloads
from collection.authentication import token_hash
from collection.models import ApiToken
from collection.services.errors import NotFound, ServiceError, payload_error


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token and its key; only the key's hash is stored, so show the key now."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError("Give the token a name of at most 100 characters.", field="name")
    try:
        payloads.check_text(name, "name")
    except payloads.PayloadError as error:
        raise payload_error(error) from error
    key = "pa_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=token_hash(key))
    return token, key


def api_token_revoke(*, user, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound("You have no such token.", field="token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
