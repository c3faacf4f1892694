"""A generation job on a real Celery worker on Redis, with one endpoint failing; a
worker killed mid-job loses no finished reply, and the resumed job duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from endpoints import services
from endpoints.models import GenerationJob, GenerationRequest
from tests.aggregation.test_worker_release import (  # the shared worker fixtures
    REDIS_URL,
    celery_on_redis,  # noqa: F401  (a fixture)
    database_url_for_worker,
    stop,
    wait_for,
)
from tests.helpers import TEST_ENDPOINT_KEY, celery_worker, make_endpoint, prompts_only_campaign

ROOT = Path(settings.BASE_DIR)


def start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_worker(),
        "CELERY_BROKER_URL": REDIS_URL,
        "PLURALIGN_ENDPOINT_KEYS": TEST_ENDPOINT_KEY,
        "PLURALIGN_GENERATION_BACKOFF_S": "0.01",
        # Sleep after each reply so the test can kill the worker mid-job.
        services.PAUSE_ENV: "0.05",
    }
    return celery_worker(tmp_path / f"{name}.log", name, env)


def finished(job_id: int) -> int:
    return GenerationRequest.objects.filter(job_id=job_id).exclude(status="pending").count()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_generates_around_a_failing_endpoint_and_a_kill_loses_nothing(
    celery_on_redis,  # noqa: F811
    tmp_path,
    researcher,
    standin,
):
    campaign, _ = prompts_only_campaign(researcher, items=12, preference_format="ranking")
    one = make_endpoint(researcher, standin, "one", max_concurrency=2)
    two = make_endpoint(researcher, standin, "two", max_concurrency=2)
    broken = make_endpoint(researcher, standin, "broken")
    standin.set_behaviour("broken", status=500)
    first = start_worker(tmp_path, "first")
    try:
        job = services.generation_job_create(
            campaign=campaign,
            created_by=researcher,
            sources=[{"endpoint": e.pk} for e in (one, two, broken)],
            keep=3,
            max_attempts=2,
            chunk_size=3,
        )
        wait_for(lambda: finished(job.pk) >= 10, 60, "replies", tmp_path / "first.log")
        stop(first, signal.SIGKILL)
    finally:
        stop(first, signal.SIGKILL)
    kept = dict(
        GenerationRequest.objects.filter(job=job, status="succeeded").values_list("pk", "text")
    )
    kept_pairs = {
        (r.endpoint.name, r.item.prompt)
        for r in GenerationRequest.objects.filter(pk__in=kept).select_related("endpoint", "item")
    }
    assert kept and finished(job.pk) < 36
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING

    second = start_worker(tmp_path, "second")
    try:
        services.generation_job_resume(job=job, retry_failed=False)
        wait_for(
            lambda: GenerationJob.objects.get(pk=job.pk).is_finished,
            90,
            "the resumed job",
            tmp_path / "second.log",
        )
    finally:
        stop(second)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FINISHED
    # Replies saved before the kill were kept, not asked for again.
    after = dict(GenerationRequest.objects.filter(pk__in=kept).values_list("pk", "text"))
    assert after == kept
    asked = [(r["model"], r["messages"][-1]["content"]) for r in standin.requests]
    good = [pair for pair in asked if pair[0] != "broken"]
    assert len(set(good)) == 24
    # Only requests in flight at the kill were asked twice; none whose reply was saved.
    asked_twice = {pair for pair in good if good.count(pair) > 1}
    assert not asked_twice & kept_pairs and len(good) - 24 <= 4
    for item in campaign.items.all():
        sources = [c["source"] for c in item.candidates]
        assert sources == ["one", "two"], sources
        requests = [c["generation"]["request"] for c in item.candidates]
        assert len(set(requests)) == 2
    failures = GenerationRequest.objects.filter(job=job, status="failed")
    assert failures.count() == 12 and set(failures.values_list("endpoint", flat=True)) == {
        broken.pk
    }
