"""The production client against the stand-in server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from endpoints import client
from endpoints.standin import StandinServer
from tests.helpers import STANDIN_KEY

MESSAGES = [{"role": "user", "content": "How do I store cooked rice?"}]


def target(server: StandinServer, model: str = "m", **fields) -> client.Target:
    return client.Target(
        base_url=server.base_url, model=model, api_key=STANDIN_KEY, **{"timeout": 5, **fields}
    )


def test_standin_listens_on_loopback_only(standin):
    assert standin.server_address[0] == "127.0.0.1"


def test_streamed_and_plain_completions_give_the_same_reply_and_usage(standin):
    plain = client.complete(target(standin), MESSAGES, {"seed": 3, "temperature": 0.7})
    parts = list(client.stream(target(standin), MESSAGES, {"seed": 3, "temperature": 0.7}))
    streamed = parts[-1]
    assert isinstance(streamed, client.Completion)
    assert len(parts) > 3 and "".join(parts[:-1]) == streamed.text == plain.text
    assert plain.finish_reason == streamed.finish_reason == "stop"
    assert plain.usage == streamed.usage and plain.usage["completion_tokens"] > 0
    assert streamed.first_token_ms is not None and plain.latency_ms >= 0
    assert standin.requests[-1]["stream_options"] == {"include_usage": True}


def test_replies_differ_by_seed_model_and_temperature_and_repeat_exactly(standin):
    base = client.complete(target(standin), MESSAGES, {"seed": 1}).text
    assert client.complete(target(standin), MESSAGES, {"seed": 1}).text == base
    assert client.complete(target(standin), MESSAGES, {"seed": 2}).text != base
    assert client.complete(target(standin, "other"), MESSAGES, {"seed": 1}).text != base
    assert client.complete(target(standin), MESSAGES, {"seed": 1, "temperature": 1.2}).text != base


def test_a_429_is_retried_after_its_retry_after_and_then_succeeds(standin):
    standin.set_behaviour("m", status=429, retry_after=0.3, fail_first=2)
    started = time.monotonic()
    answer, attempts = client.call_with_retries(
        lambda: client.complete(target(standin), MESSAGES, {}),
        backoff=client.Backoff(max_attempts=4, base_s=0.001),
    )
    assert attempts == 3 and answer.text
    assert time.monotonic() - started >= 0.6  # two waits of Retry-After, not the 1 ms backoff


def test_a_500_is_retried_a_bounded_number_of_times_then_reported(standin):
    standin.set_behaviour("m", status=500)
    with pytest.raises(client.EndpointError) as raised:
        client.call_with_retries(
            lambda: client.complete(target(standin), MESSAGES, {}),
            backoff=client.Backoff(max_attempts=3, base_s=0.001),
        )
    assert raised.value.status == 500 and raised.value.attempts == 3
    assert len(standin.requests) == 3


def test_a_hanging_endpoint_times_out_within_its_timeout(standin):
    standin.set_behaviour("m", hang=True)
    started = time.monotonic()
    with pytest.raises(client.EndpointError) as raised:
        client.complete(target(standin, timeout=0.5), MESSAGES, {})
    assert raised.value.retryable and "0.5 s" in raised.value.message
    assert time.monotonic() - started < 3


def test_a_wrong_key_is_refused_and_not_retried(standin):
    wrong = client.Target(base_url=standin.base_url, model="m", api_key="sk-wrong", timeout=2)
    with pytest.raises(client.EndpointError) as raised:
        client.call_with_retries(
            lambda: client.complete(wrong, MESSAGES, {}), backoff=client.Backoff()
        )
    assert raised.value.status == 401 and raised.value.attempts == 1
    assert "sk-wrong" not in raised.value.message


def test_a_target_never_shows_its_key():
    secret = client.Target(base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-hidden")
    assert "sk-hidden" not in repr(secret) and "sk-hidden" not in str(secret)


def test_models_are_listed(standin):
    import openai

    standin.set_behaviour("alpha")
    listing = openai.OpenAI(base_url=standin.base_url, api_key=STANDIN_KEY).models.list()
    assert [m.id for m in listing] == ["alpha"]
