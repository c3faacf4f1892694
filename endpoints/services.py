"""Writes for models in the loop: endpoints (with their encrypted keys) and generation jobs.

A generation job's requests are rows, one per (item, endpoint, sample), created
with the job. Chunks of items run as separate Celery tasks; inside a chunk a
thread pool calls the endpoints, at most ``max_concurrency`` requests in flight
per endpoint, each with its timeout and bounded retries. Results are saved as
they arrive, in batches of at most a quarter second (a killed worker loses no
more), and an item's candidates are written
through `collection.services.items_candidates_append` once all its requests are
final, in the same transaction that marks them applied.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from collection import payloads
from collection.models import Campaign, Item
from collection.services import Conflict, ServiceError, items_candidates_append

# The module, not its task: tasks.py imports this module, and whichever is imported
# first must find the other's module object (its names are not there yet).
from endpoints import client, crypto, diversity
from endpoints import tasks as endpoint_tasks
from endpoints.models import GenerationJob, GenerationRequest, ModelEndpoint
from endpoints.selectors import endpoints_usable_by

logger = logging.getLogger(__name__)

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
MAX_SAMPLES = 16
MAX_POOL_THREADS = 64
LOCK_NAMESPACE = 0x6E  # advisory locks of generation chunks: namespace, job, chunk in a bigint


# Endpoints ---------------------------------------------------------------------------


def _checked(endpoint: ModelEndpoint) -> None:
    for name in ("temperature", "top_p", "timeout_seconds"):
        value = getattr(endpoint, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ServiceError("Must be a finite number.", field=name)
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


# Generation jobs ---------------------------------------------------------------------


def _capacity(campaign: Campaign) -> int:
    return 2 if campaign.preference_format == Campaign.PreferenceFormat.CHOICE else 9


def _clean_sources(sources, usable) -> list[dict]:
    if not isinstance(sources, list) or not sources:
        raise ServiceError("Choose at least one endpoint.", field="sources")
    clean, seen = [], set()
    for n, source in enumerate(sources):
        field = f"sources.{n}"
        if not isinstance(source, dict):
            raise ServiceError("Must be an object.", field=field)
        endpoint_id = source.get("endpoint")
        if not isinstance(endpoint_id, int) or isinstance(endpoint_id, bool):
            raise ServiceError("Give the endpoint's id.", field=f"{field}.endpoint")
        if endpoint_id not in usable:
            raise ServiceError("You have no such endpoint.", field=f"{field}.endpoint")
        if endpoint_id in seen:
            raise ServiceError(
                "This endpoint is listed twice; ask it for more samples instead.",
                field=f"{field}.endpoint",
            )
        seen.add(endpoint_id)
        samples = source.get("samples", 1)
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ServiceError("A whole number of at least 1.", field=f"{field}.samples")
        if samples > MAX_SAMPLES:
            raise ServiceError(f"At most {MAX_SAMPLES} samples.", field=f"{field}.samples")
        temperatures = source.get("temperatures")
        if temperatures is not None:
            if not isinstance(temperatures, list) or len(temperatures) != samples:
                raise ServiceError(
                    "Give one temperature per sample.", field=f"{field}.temperatures"
                )
            for i, value in enumerate(temperatures):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ServiceError("Must be a number.", field=f"{field}.temperatures.{i}")
                if not 0 <= value <= 2:
                    raise ServiceError("From 0 to 2.", field=f"{field}.temperatures.{i}")
        clean.append({"endpoint": endpoint_id, "samples": samples, "temperatures": temperatures})
    return clean


def _items_for(campaign: Campaign, item_ids: list | None):
    items = Item.objects.filter(campaign=campaign, is_attention_check=False)
    if item_ids is None:
        return list(
            items.extra(
                where=["coalesce(jsonb_array_length(payload->'candidates'), 0) < 2"]
            ).values_list("id", flat=True)
        )
    if not isinstance(item_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in item_ids
    ):
        raise ServiceError("A list of item ids.", field="items")
    found = set(items.filter(pk__in=item_ids).values_list("id", flat=True))
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise ServiceError(
            f"Item {missing[0]} is not an ordinary item of this campaign.", field="items"
        )
    return sorted(found)


def _params(endpoint: ModelEndpoint, source: dict, sample: int) -> dict:
    params = endpoint.default_params()
    params["seed"] = (endpoint.seed or 0) + sample
    if source["temperatures"] is not None:
        params["temperature"] = source["temperatures"][sample]
    return params


def generation_job_create(
    *,
    campaign: Campaign,
    created_by,
    sources: list[dict],
    keep: int | None = None,
    diverse: bool = False,
    item_ids: list[int] | None = None,
    max_attempts: int = 4,
    chunk_size: int = 20,
    enqueue: bool = True,
) -> GenerationJob:
    """Queue candidates for the campaign's items (by default those with fewer than two).

    ``sources``: ``[{"endpoint": id, "samples": n, "temperatures": [...]}]``, only
    endpoints ``created_by`` may use. Each item gets ``keep`` candidates (default:
    one per request); ``diverse`` asks for more and keeps the most different.
    """
    if campaign.item_kind != Campaign.ItemKind.PREFERENCE:
        raise ServiceError("Only preference campaigns have candidates.", field="campaign")
    usable = {e.pk: e for e in endpoints_usable_by(created_by)}
    clean = _clean_sources(sources, usable)
    per_item = sum(source["samples"] for source in clean)
    if per_item < 2:
        raise ServiceError(
            "Ask for at least two candidates per item: two endpoints, or more samples.",
            field="sources",
        )
    keep = per_item if keep is None and not diverse else keep
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 2:
        raise ServiceError("Keep at least two candidates per item.", field="keep")
    if keep > _capacity(campaign):
        raise ServiceError(
            f"This campaign's items take at most {_capacity(campaign)} candidates.", field="keep"
        )
    if keep > per_item or (diverse and keep >= per_item):
        raise ServiceError(
            f"The sources give {per_item} candidates per item; "
            + ("ask for more than you keep." if diverse else "keep no more than that."),
            field="keep",
        )
    for name, value, low, high in (
        ("max_attempts", max_attempts, 1, 10),
        ("chunk_size", chunk_size, 1, 1000),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ServiceError(f"From {low} to {high}.", field=name)
    items = _items_for(campaign, item_ids)
    if not items:
        raise ServiceError("No item of this campaign needs candidates.", field="items")
    with transaction.atomic():
        job = GenerationJob.objects.create(
            campaign=campaign,
            created_by=created_by,
            sources=clean,
            keep=keep,
            diverse=diverse,
            item_filter={"ids": item_ids} if item_ids is not None else {"missing": True},
            max_attempts=max_attempts,
            chunk_size=chunk_size,
            items_total=len(items),
            requests_total=len(items) * per_item,
        )
        rows = []
        for position, item_id in enumerate(items):
            for source in clean:
                endpoint = usable[source["endpoint"]]
                for sample in range(source["samples"]):
                    rows.append(
                        GenerationRequest(
                            job=job,
                            item_id=item_id,
                            endpoint=endpoint,
                            sample=sample,
                            chunk=position // chunk_size,
                            params=_params(endpoint, source, sample),
                        )
                    )
        GenerationRequest.objects.bulk_create(rows, batch_size=2000)
        if enqueue:
            _enqueue(job, range((len(items) - 1) // chunk_size + 1))
    return job


def _enqueue(job: GenerationJob, chunks) -> None:
    chunks = list(chunks)
    transaction.on_commit(
        lambda: [endpoint_tasks.generation_chunk_run.delay(job.pk, chunk) for chunk in chunks]
    )


def generation_job_resume(*, job: GenerationJob, retry_failed: bool = True) -> GenerationJob:
    """Run a job's unfinished requests again (after a killed worker), and with
    ``retry_failed`` its failed ones too; finished work is kept and no candidate is
    written twice."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if retry_failed:
            failed = GenerationRequest.objects.filter(
                job=job, status=GenerationRequest.Status.FAILED
            )
            items = list(failed.values_list("item_id", flat=True).distinct())
            failed.update(status=GenerationRequest.Status.PENDING, error="", finished_at=None)
            # Their items take the late candidates too: the append skips those present.
            GenerationRequest.objects.filter(job=job, item_id__in=items).update(applied=False)
        chunks = list(
            GenerationRequest.objects.filter(job=job)
            .filter(Q(status=GenerationRequest.Status.PENDING) | Q(applied=False))
            .values_list("chunk", flat=True)
            .distinct()
            .order_by("chunk")
        )
        if not chunks:
            raise Conflict("This job has nothing left to do.", field="status")
        job.status = GenerationJob.Status.QUEUED
        job.finished_at = None
        job.save(update_fields=["status", "finished_at"])
        _enqueue(job, chunks)
    return job


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


# Replies are saved in small batches: one UPDATE per reply held the chunk's loop to
# ~100 requests/s however many were in flight. A killed worker loses at most these.
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


def _job_finish_if_done(job_id: int) -> None:
    open_rows = GenerationRequest.objects.filter(job_id=job_id).filter(
        Q(status=GenerationRequest.Status.PENDING) | Q(applied=False)
    )
    if open_rows.exists():
        return
    succeeded = GenerationRequest.objects.filter(
        job_id=job_id, status=GenerationRequest.Status.SUCCEEDED
    ).exists()
    GenerationJob.objects.filter(pk=job_id).exclude(
        status__in=[GenerationJob.Status.FINISHED, GenerationJob.Status.FAILED]
    ).update(
        status=GenerationJob.Status.FINISHED if succeeded else GenerationJob.Status.FAILED,
        finished_at=timezone.now(),
    )
