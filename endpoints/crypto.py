"""Endpoint API keys at rest: Fernet tokens, keys from ``PLURALIGN_ENDPOINT_KEYS``.

The setting is a list of Fernet keys, newest first (MultiFernet: the first
encrypts, all decrypt, so a key can be rotated in without re-encrypting at once;
`endpoint_keys_rotate` re-encrypts every token under the first key). With
debug on and no keys set, one key is derived from SECRET_KEY with HKDF so a
laptop needs no setup; with debug off the keys are required.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

HKDF_INFO = b"pluralign endpoint api keys"


def derived_debug_key(secret: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


def configured_keys() -> list[bytes]:
    keys = [key.encode() for key in settings.PLURALIGN_ENDPOINT_KEYS]
    if keys:
        return keys
    if settings.DEBUG:
        return [derived_debug_key(settings.SECRET_KEY)]
    raise ImproperlyConfigured(
        "PLURALIGN_ENDPOINT_KEYS must be set when DJANGO_DEBUG is off (a comma-separated "
        "list of Fernet keys, newest first)."
    )


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(configured_keys()))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        # Never the token or the key in the message: it may end up in a log.
        raise ImproperlyConfigured(
            "An endpoint's API key cannot be decrypted with PLURALIGN_ENDPOINT_KEYS "
            "(was a key removed before rotation?)."
        ) from error


def rotate(token: str) -> str:
    return fernet().rotate(token.encode()).decode()
