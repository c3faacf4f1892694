"""Calling an OpenAI-compatible chat-completions endpoint, with bounded retries.

Both calls go through the `openai` package with ``max_retries=0``: retries are
ours (`call_with_retries`), so they are bounded, logged without the key, and
honour ``Retry-After``. Errors come back as `EndpointError` with a message that
never contains the API key.
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import ipaddress
import logging
import random
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TypeVar

import certifi
import httpx
import openai

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 60.0
T = TypeVar("T")


# What a researcher may register (docs/architecture.md, "Safety"): any http(s) address,
# loopback and private networks included, because local model servers (vLLM, Ollama,
# llama.cpp) are the usual endpoints; but never the link-local block or the cloud
# metadata names, whose answers are the machine's credentials, and never credentials
# in the address itself (the key has its own encrypted field). Redirects are never
# followed, so an endpoint cannot send the server anywhere it was not registered for.
METADATA_HOSTS = ("metadata.google.internal", "metadata", "instance-data", "metadata.azure.com")
METADATA_ADDRESSES = (ipaddress.ip_address("fd00:ec2::254"),)


def address_problem(base_url: str) -> str | None:
    """Why the server must not call ``base_url``, or None when it may."""
    try:
        parts = urllib.parse.urlsplit(base_url)
        host = (parts.hostname or "").rstrip(".").lower()
        credentials = parts.username is not None or parts.password is not None
    except ValueError:
        return "Not a valid address."
    if credentials:
        return "Put the API key in its own field, not in the address."
    if host in METADATA_HOSTS:
        return "A cloud metadata service is not a model endpoint."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local or address in METADATA_ADDRESSES:
        return "A link-local address (where cloud metadata services live) is not a model endpoint."
    if address.is_unspecified or address.is_multicast:
        return "Not an address a server can be reached at."
    return None


@dataclasses.dataclass(frozen=True)
class Target:
    """Where to send a request; built from a registered `ModelEndpoint` only."""

    base_url: str
    model: str
    api_key: str = dataclasses.field(default="", repr=False)
    timeout: float = 60.0
    name: str = ""


@dataclasses.dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    usage: dict | None
    latency_ms: int
    first_token_ms: int | None = None


class EndpointError(Exception):
    """A failed call; ``retryable`` for timeouts, connection errors, 429 and 5xx."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle, which took
    ~100 ms of a conversation turn per client on a busy 2-core machine (measured), and a
    turn makes a client per reply."""
    return ssl.create_default_context(cafile=certifi.where())


def make_client(target: Target) -> openai.OpenAI:
    """One client per endpoint and batch: it keeps its connections (and is thread-safe)."""
    timeout = httpx.Timeout(target.timeout, connect=min(target.timeout, 10.0))
    return openai.OpenAI(
        base_url=target.base_url,
        # Servers without authentication (Ollama, llama.cpp) accept any value; the
        # package refuses to start without one.
        api_key=target.api_key or "no-key",
        timeout=timeout,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(
            verify=_tls(), timeout=timeout, follow_redirects=False
        ),
    )


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


def _scrub(text: str, target: Target) -> str:
    text = text.replace(target.api_key, "[key]") if target.api_key else text
    return text[:500]


def _endpoint_error(error: Exception, target: Target) -> EndpointError:
    if isinstance(error, openai.APITimeoutError):
        return EndpointError(f"No answer within {target.timeout:g} s.", retryable=True)
    if isinstance(error, openai.APIConnectionError):
        return EndpointError(
            _scrub(f"Could not connect: {error.__cause__ or error}", target), retryable=True
        )
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        body = error.response.text if error.response is not None else ""
        if 300 <= status < 400:
            return EndpointError(
                f"HTTP {status}: the endpoint redirects elsewhere, and redirects are not "
                "followed; register the address it should be called at.",
                retryable=False,
                status=status,
            )
        return EndpointError(
            _scrub(f"HTTP {status}: {body}", target),
            retryable=status == 429 or status >= 500,
            status=status,
            retry_after=_retry_after(error.response),
        )
    # A 200 whose body is not a chat completion (empty, HTML, another API) surfaces as
    # the package's objects lacking attributes: a bad answer, not a crash.
    malformed = AttributeError | TypeError | IndexError | KeyError
    if isinstance(error, openai.OpenAIError | httpx.HTTPError | ValueError | malformed):
        return EndpointError(_scrub(f"Bad answer: {error}", target), retryable=False)
    raise error


def _request(target: Target, messages: list[dict], params: dict) -> dict:
    refused = address_problem(target.base_url)
    if refused:  # a row older than the rule, or written around the services
        raise EndpointError(refused, retryable=False)
    body = {"model": target.model, "messages": messages}
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        if params.get(name) is not None:
            body[name] = params[name]
    return body


def _usage(usage) -> dict | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def complete(
    target: Target, messages: list[dict], params: dict, *, client: openai.OpenAI | None = None
) -> Completion:
    """One non-streaming completion; raises `EndpointError`."""
    client = client or make_client(target)
    started = time.perf_counter()
    try:
        answer = client.chat.completions.create(**_request(target, messages, params))
        choice = answer.choices[0]
        text = choice.message.content or ""
    except Exception as error:
        raise _endpoint_error(error, target) from None
    return Completion(
        text=text,
        finish_reason=choice.finish_reason or "",
        usage=_usage(answer.usage),
        latency_ms=round((time.perf_counter() - started) * 1000),
    )


def stream(
    target: Target,
    messages: list[dict],
    params: dict,
    *,
    client: openai.OpenAI | None = None,
    include_usage: bool = True,
) -> Iterator[str | Completion]:
    """Yield the reply's text deltas as they come, then one `Completion` for the whole.

    ``include_usage=False`` for servers that reject ``stream_options``.
    """
    client = client or make_client(target)
    started = time.perf_counter()
    first_token_ms = None
    parts: list[str] = []
    finish_reason, usage = "", None
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    try:
        chunks = client.chat.completions.create(
            **_request(target, messages, params), stream=True, **extra
        )
        with chunks:
            for chunk in chunks:
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        if first_token_ms is None:
                            first_token_ms = round((time.perf_counter() - started) * 1000)
                        parts.append(delta)
                        yield delta
    except Exception as error:
        raise _endpoint_error(error, target) from None
    yield Completion(
        text="".join(parts),
        finish_reason=finish_reason,
        usage=usage,
        latency_ms=round((time.perf_counter() - started) * 1000),
        first_token_ms=first_token_ms,
    )


@dataclasses.dataclass(frozen=True)
class Backoff:
    max_attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, error: EndpointError) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        if error.retry_after is not None:
            return error.retry_after
        return min(self.cap_s, self.base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def call_with_retries(
    call: Callable[[], T],
    *,
    backoff: Backoff,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``call`` until it succeeds or ``backoff.max_attempts`` are spent.

    Returns (result, attempts). Raises the last `EndpointError`, with ``attempts``
    set on it, when it is not retryable or the attempts run out.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(), attempt
        except EndpointError as error:
            error.attempts = attempt
            if not error.retryable or attempt >= backoff.max_attempts:
                raise
            wait = backoff.delay(attempt, error)
            logger.info(
                "%s failed (attempt %d of %d: %s); again in %.2f s",
                what,
                attempt,
                backoff.max_attempts,
                error.message[:120],
                wait,
            )
            sleep(wait)
