"""Adaptive overlap in a release: each item's final k and why (the allocation log),
a weight that undoes the allocation, and a card that says naive estimates are biased."""

import pyarrow.parquet as pq
import pytest

from aggregation import tasks
from aggregation.models import ExportJob
from aggregation.release import jobs, pipeline
from collection.models import AllocationDecision
from tests.collection.test_adaptive import BASE_K, adaptive_campaign, fill
from tests.factories import make_researcher

pytestmark = pytest.mark.django_db


def test_the_release_records_each_items_final_k_and_why_and_the_card_says_how_to_weight(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.RELEASES_ROOT = tmp_path / "releases"
    campaign, left, right = adaptive_campaign(items=3)
    campaign.owners.set([make_researcher()])
    items = list(campaign.items.order_by("id"))
    disputed = items[0].pk
    fill(campaign, left, lambda item: "a", people=BASE_K)
    fill(campaign, right, lambda item: "b" if item.pk == disputed else "a", people=BASE_K)
    tasks.adaptive_overlap_allocate()
    for _ in range(2):
        fill(campaign, left, lambda item: "a", people=2)
        fill(campaign, right, lambda item: "b" if item.pk == disputed else "a", people=2)
        tasks.adaptive_overlap_allocate()

    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    folder = settings.RELEASES_ROOT / job.release_path
    table = pq.read_table(folder / "right" / "item_allocation.parquet").to_pylist()
    assert [row["item_id"] for row in table] == [item.pk for item in items]
    first, agreed = table[0], table[1]
    assert (first["base_k"], first["final_k"], first["reason"]) == (3, 7, "divergence")
    assert first["decisions"] == 3  # 3 → 5, 5 → 7, then at max k
    assert first["last_votes"] == 7 and first["judgements"] == 7
    assert first["judgement_weight"] == pytest.approx(3 / 7)
    assert (agreed["final_k"], agreed["reason"], agreed["last_jsd"]) == (3, "agree", 0.0)
    assert agreed["judgement_weight"] == 1.0
    card = (folder / "README.md").read_text()
    assert "Adaptive allocation biases naive estimates" in card
    assert "`judgement_weight`" in card and "max k 7" in card

    # A decision made after the release's snapshot does not change a rebuild's bytes.
    again = tmp_path / "again"
    again.mkdir()
    AllocationDecision.objects.create(
        campaign=campaign,
        item=items[2],
        audience=right,
        reason="divergence",
        votes=3,
        k_before=4,
        k_after=6,
    )
    pipeline.release_write(job=job, directory=again, progress=lambda f, m: None)
    rebuilt = again / "right" / "item_allocation.parquet"
    assert rebuilt.read_bytes() == (folder / "right" / "item_allocation.parquet").read_bytes()
    assert job.snapshot_at < AllocationDecision.objects.get(k_before=4).decided_at


def test_a_campaign_without_adaptive_overlap_gets_no_allocation_file(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    from tests.factories import AudienceFactory, make_campaign

    settings.RELEASES_ROOT = tmp_path / "releases"
    audience = AudienceFactory(slug="plain")
    campaign = make_campaign(audiences={audience: 1}, items=2, owners=[make_researcher()])
    fill(campaign, audience, lambda item: "a", people=1)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.export_job_create(campaign=campaign)
    job.refresh_from_db()
    folder = settings.RELEASES_ROOT / job.release_path
    assert (folder / "plain" / "preferences.parquet").exists()
    assert not (folder / "plain" / "item_allocation.parquet").exists()
    assert "Adaptive allocation" not in (folder / "README.md").read_text()
