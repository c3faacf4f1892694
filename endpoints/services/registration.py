"""Model endpoints: creating and updating them (with their encrypted keys), rotating the
keys to the current secret, the client's target for one, and testing its connection."""

from __future__ import annotations

import dataclasses
import math

from django.core.exceptions import ValidationError

from collection.services import Conflict, ServiceError
from endpoints import client, crypto
from endpoints.models import ModelEndpoint

ENDPOINT_FIELDS = (
    "name",
    "base_url",
    "model",
    "system_prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "timeout_seconds",
    "max_concurrency",
)


def _checked(endpoint: ModelEndpoint) -> None:
    for name in ("temperature", "top_p", "timeout_seconds"):
        value = getattr(endpoint, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ServiceError("Must be a finite number.", field=name)
    refused = client.address_problem(endpoint.base_url or "")
    if refused:
        raise ServiceError(refused, field="base_url")
    try:
        endpoint.full_clean(exclude=["owner", "api_key_encrypted"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        if field == "__all__":
            field = "name"
        raise ServiceError(" ".join(messages), field=field) from error


def endpoint_create(*, owner, api_key: str = "", **fields) -> ModelEndpoint:
    """Register an endpoint; ``api_key`` is encrypted before it is stored."""
    unknown = sorted(set(fields) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    endpoint = ModelEndpoint(owner=owner, **fields)
    _checked(endpoint)
    if ModelEndpoint.objects.filter(owner=owner, name=endpoint.name).exists():
        raise Conflict(f"You have an endpoint named {endpoint.name!r} already.", field="name")
    endpoint.api_key_encrypted = crypto.encrypt(api_key) if api_key else ""
    endpoint.save()
    return endpoint


def endpoint_update(
    *, endpoint: ModelEndpoint, fields: dict, api_key: str | None = None
) -> ModelEndpoint:
    """Change settings; ``api_key`` None keeps the key, "" removes it."""
    unknown = sorted(set(fields) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])
    for name, value in fields.items():
        setattr(endpoint, name, value)
    _checked(endpoint)
    clash = ModelEndpoint.objects.filter(owner=endpoint.owner, name=endpoint.name).exclude(
        pk=endpoint.pk
    )
    if clash.exists():
        raise Conflict(f"You have an endpoint named {endpoint.name!r} already.", field="name")
    if api_key is not None:
        endpoint.api_key_encrypted = crypto.encrypt(api_key) if api_key else ""
    endpoint.save()
    return endpoint


def endpoint_keys_rotate() -> int:
    """Re-encrypt every stored key under the first of PLURALIGN_ENDPOINT_KEYS."""
    count = 0
    for endpoint in ModelEndpoint.objects.exclude(api_key_encrypted="").only(
        "pk", "api_key_encrypted"
    ):
        ModelEndpoint.objects.filter(pk=endpoint.pk).update(
            api_key_encrypted=crypto.rotate(endpoint.api_key_encrypted)
        )
        count += 1
    return count


def endpoint_target(*, endpoint: ModelEndpoint) -> client.Target:
    """The only way from a registered endpoint to an address to call."""
    return client.Target(
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=crypto.decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else "",
        timeout=endpoint.timeout_seconds,
        name=endpoint.name,
    )


@dataclasses.dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    latency_ms: int | None = None
    reply: str = ""


def endpoint_test_connection(*, endpoint: ModelEndpoint) -> ConnectionCheck:
    """One short completion, no retries: does the endpoint answer, and how fast?"""
    target = endpoint_target(endpoint=endpoint)
    try:
        answer = client.complete(
            target,
            [{"role": "user", "content": "Reply with the single word: ready"}],
            {"max_tokens": 8, "temperature": 0},
        )
    except client.EndpointError as error:
        return ConnectionCheck(ok=False, message=error.message)
    return ConnectionCheck(
        ok=True,
        message=f"{endpoint.model} answered in {answer.latency_ms} ms.",
        latency_ms=answer.latency_ms,
        reply=answer.text[:200],
    )
