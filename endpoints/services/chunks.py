"""Running one chunk of a generation job: the thread pool calling the endpoints, replies
saved in small batches, an item's candidates appended once all its requests are final,
and the job finished when nothing is left open."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from collection import payloads
from collection.models import Item
from collection.services import items_candidates_append
from endpoints import client, diversity
from endpoints.models import GenerationJob, GenerationRequest, ModelEndpoint
from endpoints.services.jobs import _capacity
from endpoints.services.registration import endpoint_target

logger = logging.getLogger(__name__)


MAX_POOL_THREADS = 64
LOCK_NAMESPACE = 0x6E  # advisory locks of generation chunks: namespace, job, chunk in a bigint


@dataclasses.dataclass
class _Outcome:
    request_id: int
    completion: client.Completion | None
    error: client.EndpointError | None
    attempts: int


def _messages(item: Item, endpoint: ModelEndpoint) -> list[dict]:
    system = [endpoint.system_prompt] if endpoint.system_prompt else []
    context = item.context or {}
    if context.get("persona"):
        system.append(f"Persona: {context['persona']}")
    if context.get("situation"):
        system.append(f"Situation: {context['situation']}")
    messages = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return [*messages, *context.get("messages", []), {"role": "user", "content": item.prompt}]


def _call(
    request: GenerationRequest,
    target: client.Target,
    openai_client,
    gate: threading.Semaphore,
    backoff: client.Backoff,
) -> _Outcome:
    messages = _messages(request.item, request.endpoint)

    def once() -> client.Completion:
        with gate:
            return client.complete(target, messages, request.params, client=openai_client)

    try:
        completion, attempts = client.call_with_retries(
            once, backoff=backoff, what=f"{target.name} on item {request.item_id}"
        )
    except client.EndpointError as error:
        return _Outcome(request.pk, None, error, getattr(error, "attempts", 1))
    return _Outcome(request.pk, completion, None, attempts)


def _lock_key(job_id: int, chunk: int) -> list[int]:
    # Two chunks sharing a key (past 2**20 chunks) only wait for each other.
    return [(LOCK_NAMESPACE << 56) | ((job_id & (2**36 - 1)) << 20) | (chunk & (2**20 - 1))]


# Replies are saved in batches: one UPDATE per reply held the chunk's loop to ~100
# requests/s however many were in flight. Batches of 48 or 0.6 s, not 16 or 0.25 s:
# each batch's writes cost the chunk's thread a fixed share of the interpreter, which
# the 16 calling threads wait for; side by side at load 16-17 the larger batches took
# the thread's writes from 2.3-3.7 s to 0.7-1.3 s a run and the calls from 223-226 ms
# to 209-216 ms p50 (benchmarks/README.md). A killed worker loses at most one batch
# (asked again on the re-run, never stored twice). Back to 16 / 0.25 s: with 0.6 s the
# real-worker kill test re-asked 6 replies that had arrived but were not yet saved, more
# than the 4 in flight it allows (tests/endpoints/test_worker_generation.py); keeping
# what a kill costs to the calls in flight was chosen over the loaded throughput gain.
SAVE_EVERY = 16
SAVE_SECONDS = 0.25


def _result(request: GenerationRequest, outcome: _Outcome) -> GenerationRequest:
    request.attempts += outcome.attempts
    request.finished_at = timezone.now()
    completion = outcome.completion
    if completion is not None and not completion.text.strip():
        outcome.error = client.EndpointError("The model sent an empty reply.", retryable=False)
    elif completion is not None and len(completion.text) > payloads.MAX_TEXT_CHARS:
        outcome.error = client.EndpointError(
            f"The reply is longer than {payloads.MAX_TEXT_CHARS} characters.", retryable=False
        )
    if outcome.error is not None:
        request.status = GenerationRequest.Status.FAILED
        request.error = outcome.error.message[:1000]
    else:
        request.status = GenerationRequest.Status.SUCCEEDED
        request.text = completion.text
        request.finish_reason = completion.finish_reason[:40]
        request.latency_ms = completion.latency_ms
        request.usage = completion.usage
        request.error = ""
    return request


def _save_results(requests: list[GenerationRequest]) -> None:
    """Store finished requests in one pipelined round trip.

    Not ``bulk_update``: its CASE expression per field and row cost the chunk's loop
    ~0.1 s of Python per 16 replies (profiled), time the replies then queued behind.
    """
    rows = [
        (
            r.attempts,
            r.finished_at,
            str(r.status),  # the value; psycopg would write an Enum's name
            r.error,
            r.text,
            r.finish_reason,
            r.latency_ms,
            None if r.usage is None else json.dumps(r.usage),
            r.pk,
        )
        for r in requests
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"""
            UPDATE {GenerationRequest._meta.db_table}
            SET attempts = %s, finished_at = %s, status = %s, error = %s, text = %s,
                finish_reason = %s, latency_ms = %s, usage = %s::jsonb
            WHERE id = %s
            """,
            rows,
        )


def _apply_items(job: GenerationJob, item_ids: list[int]) -> int:
    """Write the candidates of the items whose requests are all final, in one
    transaction with the requests marked applied; returns the items written.

    A batch, not an item at a time: under a full pool of calls every round trip also
    waits for the interpreter lock, and per-item transactions (eight statements each)
    left seconds of writing after the last of 400 replies (profiled).
    """
    if not item_ids:
        return 0
    with transaction.atomic():
        by_item: dict[int, list[GenerationRequest]] = defaultdict(list)
        for request in (
            GenerationRequest.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(job=job, item_id__in=item_ids)
            .order_by("item_id", "id")
        ):
            by_item[request.item_id].append(request)
        final = [
            item_id
            for item_id, requests in by_item.items()
            if all(r.status != GenerationRequest.Status.PENDING for r in requests)
            and not all(r.applied for r in requests)
        ]
        if not final:
            return 0
        items = Item.objects.select_related("campaign").in_bulk(final)
        chosen = {
            item_id: _chosen(job, items[item_id], by_item[item_id])
            for item_id in final
            if item_id in items
        }
        chosen = {item_id: requests for item_id, requests in chosen.items() if requests}
        written, refused = items_candidates_append(
            candidates_by_item={
                item_id: [_candidate(job, r) for r in requests]
                for item_id, requests in chosen.items()
            }
        )
        for item_id, error in refused.items():
            GenerationRequest.objects.filter(pk__in=[r.pk for r in chosen[item_id]]).update(
                status=GenerationRequest.Status.FAILED, error=error.message[:1000]
            )
        GenerationRequest.objects.filter(job=job, item_id__in=final).update(applied=True)
    return len(written)


def _chosen(
    job: GenerationJob, item: Item, requests: list[GenerationRequest]
) -> list[GenerationRequest]:
    """The item's replies to append: the fresh ones up to ``keep`` (the most different
    ones with ``diverse``), within the room the item has left."""
    succeeded = [r for r in requests if r.status == GenerationRequest.Status.SUCCEEDED]
    present = {(c.get("generation") or {}).get("request") for c in item.candidates}
    fresh = [r for r in succeeded if r.pk not in present]
    room = max(0, _capacity(item.campaign) - len(item.candidates))
    want = min(room, job.keep - (len(succeeded) - len(fresh)))
    if job.diverse and len(fresh) > want:
        return [fresh[i] for i in diversity.most_diverse([r.text for r in fresh], want)]
    return fresh[: max(want, 0)]


def _candidate(job: GenerationJob, request: GenerationRequest) -> dict:
    return {
        "text": request.text,
        "source": request.endpoint.name,
        "generation": {
            "job": job.pk,
            "request": request.pk,
            "endpoint": request.endpoint_id,
            "model": request.endpoint.model,
            "params": request.params,
            "latency_ms": request.latency_ms,
            "usage": request.usage or {},
        },
    }


def generation_chunk_run(*, job_id: int, chunk: int) -> int | None:
    """Run one chunk's pending requests and write its items' candidates (the task's
    body); safe to run twice. Returns the requests called, or None when another
    process holds the chunk."""
    job = GenerationJob.objects.filter(pk=job_id).select_related("campaign").first()
    if job is None:
        return None
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", _lock_key(job_id, chunk))
        if not cursor.fetchone()[0]:
            logger.info("generation job %s chunk %s is running elsewhere", job_id, chunk)
            return None
    try:
        GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.QUEUED).update(
            status=GenerationJob.Status.RUNNING, started_at=timezone.now()
        )
        called = _run_chunk(job, chunk)
        _job_finish_if_done(job_id)
        return called
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", _lock_key(job_id, chunk))


def _run_chunk(job: GenerationJob, chunk: int) -> int:
    rows = GenerationRequest.objects.filter(job=job, chunk=chunk)
    pending = list(
        rows.filter(status=GenerationRequest.Status.PENDING)
        .select_related("item", "endpoint")
        .order_by("id")
    )
    waiting = defaultdict(int)
    for request in pending:
        waiting[request.item_id] += 1
    endpoints = {request.endpoint_id: request.endpoint for request in pending}
    targets = {pk: endpoint_target(endpoint=endpoint) for pk, endpoint in endpoints.items()}
    clients = {pk: client.make_client(target) for pk, target in targets.items()}
    gates = {pk: threading.BoundedSemaphore(e.max_concurrency) for pk, e in endpoints.items()}
    backoff = client.Backoff(
        max_attempts=job.max_attempts, base_s=settings.PLURALIGN_GENERATION_BACKOFF_S
    )
    threads = min(MAX_POOL_THREADS, max(1, sum(e.max_concurrency for e in endpoints.values())))
    by_id = {request.pk: request for request in pending}
    if pending:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="generate") as pool:
            futures = [
                pool.submit(
                    _call,
                    request,
                    targets[request.endpoint_id],
                    clients[request.endpoint_id],
                    gates[request.endpoint_id],
                    backoff,
                )
                for request in pending
            ]
            batch: list[GenerationRequest] = []
            ready: list[int] = []
            flushed = time.monotonic()

            def flush() -> None:
                _save_results(batch)
                _apply_items(job, ready)
                batch.clear()
                ready.clear()

            for future in as_completed(futures):
                outcome = future.result()
                request = by_id[outcome.request_id]
                batch.append(_result(request, outcome))
                waiting[request.item_id] -= 1
                if waiting[request.item_id] == 0:
                    ready.append(request.item_id)
                if len(batch) >= SAVE_EVERY or time.monotonic() - flushed > SAVE_SECONDS:
                    flush()
                    flushed = time.monotonic()
                _pause_for_tests()
            flush()
        for openai_client in clients.values():
            openai_client.close()
    # Items finished by an earlier run that was killed before writing them.
    _apply_items(job, list(rows.filter(applied=False).values_list("item_id", flat=True).distinct()))
    return len(pending)


PAUSE_ENV = "PLURALIGN_GENERATION_PAUSE_SECONDS"


def _pause_for_tests() -> None:
    # Lets the worker test kill a worker mid-chunk; unset (0) everywhere else.
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    if pause:
        time.sleep(pause)


# Finishes the job when none of its requests is pending or unapplied, in one statement
# (it was three: two EXISTS and an UPDATE, on the path after the last reply).
FINISH_SQL = f"""
UPDATE {GenerationJob._meta.db_table} j
SET finished_at = %(now)s,
    status = CASE WHEN EXISTS (
        SELECT 1 FROM {GenerationRequest._meta.db_table} r
        WHERE r.job_id = j.id AND r.status = %(succeeded)s
    ) THEN %(finished)s ELSE %(failed)s END
WHERE j.id = %(job)s
  AND j.status NOT IN (%(finished)s, %(failed)s)
  AND NOT EXISTS (
      SELECT 1 FROM {GenerationRequest._meta.db_table} r
      WHERE r.job_id = j.id AND (r.status = %(pending)s OR NOT r.applied)
  )
"""


def _job_finish_if_done(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            FINISH_SQL,
            {
                "job": job_id,
                "now": timezone.now(),
                "succeeded": str(GenerationRequest.Status.SUCCEEDED),
                "pending": str(GenerationRequest.Status.PENDING),
                "finished": str(GenerationJob.Status.FINISHED),
                "failed": str(GenerationJob.Status.FAILED),
            },
        )
