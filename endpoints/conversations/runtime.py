"""Asking two to four endpoints at once and passing their replies on as they arrive.

Each call runs in its own thread through the production client (`endpoints.client.
stream`, the `openai` package) and puts what it receives on one queue; the caller's
thread reads the queue, so the replies reach the page in the order their pieces
arrive and a turn takes about as long as its slowest model, not the sum. Only the
caller's thread touches the database (the threads have no connection of their own).

A reply is untrusted text: it is cut at `MAX_REPLY_CHARS` (and marked truncated), and
a call that goes on past `CALL_DEADLINE_S` is stopped. Failures come back as
`Failed` with the client's message, which never holds the key; pages show annotators
a plain sentence instead (`failure_sentence`), never an endpoint's name or address.

The campaign's limit of calls in flight holds across every web process: a call needs
one of ``max_calls_in_flight`` session advisory locks, taken all at once for a turn
(so two turns never hold half of what each needs) on the caller's connection, and
released when the turn ends, or by PostgreSQL when the connection goes.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence

from django.db import connection

from collection.models.conversations import MAX_REPLY_CHARS
from endpoints import client

logger = logging.getLogger(__name__)

CALL_DEADLINE_S = 300.0  # however slowly a model trickles, a reply ends by then
LOCK_NAMESPACE = 0x63  # advisory locks of calls in flight: namespace, campaign, slot
POLL_S = 0.5  # how often a waiting turn looks for free places


@dataclasses.dataclass(frozen=True)
class Call:
    reply_id: str
    target: client.Target = dataclasses.field(repr=False)
    messages: list[dict]
    params: dict


@dataclasses.dataclass(frozen=True)
class Delta:
    reply_id: str
    text: str


@dataclasses.dataclass(frozen=True)
class Finished:
    reply_id: str
    completion: client.Completion
    truncated: bool = False


@dataclasses.dataclass(frozen=True)
class Failed:
    reply_id: str
    error: client.EndpointError
    latency_ms: int


Event = Delta | Finished | Failed


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """A model's text as PostgreSQL can store it: NUL and lone surrogates (which a
    server may send, escaped, in its JSON) become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def failure_sentence(error_message: str) -> str:
    """What an annotator reads about a failed reply: the kind of failure, no details."""
    if error_message.startswith("No answer within") or "too long" in error_message:
        return "The model did not answer in time."
    if error_message.startswith("HTTP 429"):
        return "The model is busy (too many requests)."
    if error_message.startswith("HTTP "):
        return "The model answered with an error."
    if error_message.startswith("Could not connect"):
        return "The model could not be reached."
    if "removed" in error_message:
        return "The model is no longer available."
    if "empty reply" in error_message:
        return "The model sent an empty reply."
    return "The model's answer could not be read."


def _worker(call: Call, out: queue.Queue, stop: threading.Event) -> None:
    started = time.perf_counter()
    parts: list[str] = []
    size, truncated = 0, False
    openai_client = client.make_client(call.target)
    pieces = client.stream(call.target, call.messages, call.params, client=openai_client)
    try:
        for piece in pieces:
            if isinstance(piece, client.Completion):
                if not piece.text.strip():
                    raise client.EndpointError("The model sent an empty reply.", retryable=False)
                out.put(
                    Finished(call.reply_id, dataclasses.replace(piece, text=storable(piece.text)))
                )
                return
            if stop.is_set():
                return
            if time.perf_counter() - started > CALL_DEADLINE_S:
                raise client.EndpointError(
                    f"The reply took too long (over {CALL_DEADLINE_S:g} s).", retryable=False
                )
            piece = storable(piece)
            room = MAX_REPLY_CHARS - size
            if len(piece) >= room:
                piece, truncated = piece[:room], True
            parts.append(piece)
            size += len(piece)
            if piece:
                out.put(Delta(call.reply_id, piece))
            if truncated:
                break
        text = "".join(parts)
        if not text.strip():
            raise client.EndpointError("The model sent an empty reply.", retryable=False)
        out.put(
            Finished(
                call.reply_id,
                client.Completion(
                    text=text,
                    finish_reason="length",
                    usage=None,
                    latency_ms=round((time.perf_counter() - started) * 1000),
                ),
                truncated=True,
            )
        )
    except client.EndpointError as error:
        out.put(Failed(call.reply_id, error, round((time.perf_counter() - started) * 1000)))
    except Exception:  # a bug here must not leave the turn waiting for ever
        logger.exception("conversation call for reply %s failed", call.reply_id)
        out.put(
            Failed(
                call.reply_id,
                client.EndpointError("The answer could not be read.", retryable=False),
                round((time.perf_counter() - started) * 1000),
            )
        )
    finally:
        pieces.close()
        openai_client.close()


def run_calls(calls: Sequence[Call], *, keepalive_s: float = 10.0) -> Iterator[Event | None]:
    """Run the calls at once; yield each event as it arrives (None every ``keepalive_s``
    of silence, so a stream can say it is alive). Ends when every call has finished or
    failed; closing the iterator early tells the threads to stop reading."""
    out: queue.Queue = queue.Queue()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_worker, args=(call, out, stop), daemon=True, name=f"reply-{call.reply_id}"
        )
        for call in calls
    ]
    for thread in threads:
        thread.start()
    waiting = {call.reply_id for call in calls}
    try:
        while waiting:
            try:
                event = out.get(timeout=keepalive_s)
            except queue.Empty:
                yield None
                continue
            if isinstance(event, Finished | Failed):
                waiting.discard(event.reply_id)
            yield event
    finally:
        stop.set()


def _lock_key(campaign_id: int, slot: int) -> int:
    return (LOCK_NAMESPACE << 56) | ((campaign_id & (2**40 - 1)) << 8) | (slot & 0xFF)


class CallsBusy(Exception):
    """No places free for this turn's calls within the wait."""


@dataclasses.dataclass
class InFlight:
    """The places a turn's calls hold in the campaign's limit; release when done."""

    campaign_id: int
    keys: list[int]

    def release(self) -> None:
        if not self.keys:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) k", [self.keys])
        self.keys = []


# The first ``count`` of the places that are free, tried in the order given, in one
# statement: the filter runs row by row as the LIMIT pulls rows from the scan, so it
# stops asking for locks once it has ``count``. No ORDER BY: a sort would read (and
# lock) every row first.
TAKE_SQL = "SELECT k FROM unnest(%s::bigint[]) AS t(k) WHERE pg_try_advisory_lock(k) LIMIT %s"


def calls_take(*, campaign_id: int, count: int, limit: int, wait_s: float = 20.0) -> InFlight:
    """Take ``count`` of the campaign's ``limit`` places for calls in flight, all or none,
    waiting up to ``wait_s``; raises CallsBusy."""
    if count <= 0:
        return InFlight(campaign_id, [])
    if count > limit:
        raise CallsBusy(f"This campaign allows {limit} model calls at once; a turn needs {count}.")
    deadline = time.monotonic() + wait_s
    while True:
        offset = random.randrange(limit)
        keys = [_lock_key(campaign_id, (offset + n) % limit) for n in range(limit)]
        with connection.cursor() as cursor:
            cursor.execute(TAKE_SQL, [keys, count])
            taken = [row[0] for row in cursor.fetchall()]
        held = InFlight(campaign_id, taken)
        if len(taken) == count:
            return held
        held.release()
        if time.monotonic() >= deadline:
            raise CallsBusy("The models are busy with other participants' turns.")
        time.sleep(POLL_S * random.uniform(0.5, 1.0))
