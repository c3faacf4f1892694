"""Generation jobs: checking the sources (endpoints, samples) and items, creating the job
with one request row per (item, endpoint, sample), enqueueing its chunks on commit, and
resuming a job."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from collection import kinds
from collection.models import Campaign, Item
from collection.services import Conflict, ServiceError

# The module, not its task: tasks.py imports this package, and whichever is imported
# first must find the other's module object (its names are not there yet).
from endpoints import tasks as endpoint_tasks
from endpoints.models import GenerationJob, GenerationRequest, ModelEndpoint
from endpoints.selectors import endpoints_usable_by

MAX_SAMPLES = 16


def _capacity(campaign: Campaign) -> int:
    if campaign.item_kind == Campaign.ItemKind.RATING:
        return 1  # the one response a rating item shows
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
        missing = "coalesce(jsonb_array_length(payload->'candidates'), 0) < 2"
        if campaign.item_kind == Campaign.ItemKind.RATING:
            missing = "NOT (payload ? 'response')"  # imported prompts only
        return list(items.extra(where=[missing]).values_list("id", flat=True))
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
    kind = kinds.get(campaign.item_kind)
    if not (kind.has_candidates or kind.generated_responses):
        raise ServiceError(
            "Only preference and rating campaigns take generated responses.", field="campaign"
        )
    usable = {e.pk: e for e in endpoints_usable_by(created_by)}
    clean = _clean_sources(sources, usable)
    per_item = sum(source["samples"] for source in clean)
    if campaign.item_kind == Campaign.ItemKind.RATING:
        if per_item != 1 or keep not in (None, 1) or diverse:
            raise ServiceError(
                "A rating item shows one response: ask one endpoint for one sample.",
                field="sources",
            )
        keep = 1
    elif per_item < 2:
        raise ServiceError(
            "Ask for at least two candidates per item: two endpoints, or more samples.",
            field="sources",
        )
    keep = per_item if keep is None and not diverse else keep
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < min(2, _capacity(campaign)):
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
