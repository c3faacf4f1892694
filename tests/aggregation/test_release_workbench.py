"""What the workbench takes out of releases: excluded items, rejected demonstrations.

The release code is being split up (#11); these turn on once its item and judgement
queries add `collection.selectors.RELEASABLE_ITEM_SQL` / `RELEASABLE_RESPONSE_SQL`.
"""

from __future__ import annotations

import json

import pytest

from collection import services
from tests.aggregation.test_release import build, release_dir
from tests.factories import AudienceFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def answer_all(campaign, audience, payload, people=2):
    for n in range(people):
        participant = ready_participant(audience=audience, campaign=campaign)
        while (lease := services.assignment_next(participant=participant, campaign=campaign)) and (
            getattr(lease, "pk", None)
        ):
            services.response_submit(
                participant=participant,
                assignment_id=lease.pk,
                payload=payload,
                time_on_task_ms=1000,
                idempotency_key=f"00000000-0000-0000-0000-{n:06d}{lease.pk:06d}",
            )


def test_an_excluded_item_leaves_later_releases(releases_root, django_capture_on_commit_callbacks):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 2}, items=3)
    answer_all(campaign, audience, {"choice": "a"})
    excluded = campaign.items.first()
    services.item_exclude(item=excluded)
    job = build(campaign, django_capture_on_commit_callbacks, formats=["jsonl"])
    text = "".join(p.read_text() for p in release_dir(releases_root, job).rglob("*.jsonl"))
    assert excluded.prompt not in text


def test_a_rejected_demonstration_leaves_later_releases(
    releases_root, django_capture_on_commit_callbacks
):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=1, item_kind="demonstration")
    answer_all(campaign, audience, {"text": "A reply to reject."}, people=1)
    services.response_review(response=campaign.responses.get(), review="rejected")
    job = build(campaign, django_capture_on_commit_callbacks, formats=["jsonl"])
    text = "".join(p.read_text() for p in release_dir(releases_root, job).rglob("*.jsonl"))
    assert "A reply to reject." not in text


def test_the_card_counts_rejected_demonstrations_and_excluded_items(
    releases_root, django_capture_on_commit_callbacks
):
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: 1}, items=3, item_kind="demonstration")
    answer_all(campaign, audience, {"text": "A reply."}, people=1)
    first, second, third = campaign.responses.order_by("item_id")
    services.response_review(response=first, review="rejected")
    services.response_review(response=second, review="rejected")
    services.item_exclude(item=third.item)
    job = build(campaign, django_capture_on_commit_callbacks)
    card = (release_dir(releases_root, job) / "README.md").read_text()
    assert (
        "Left out by the researchers: 1 item they excluded from releases, "
        "and 2 demonstrations a reviewer rejected." in card
    )
    metrics = json.loads((release_dir(releases_root, job) / "metrics.json").read_text())
    assert metrics["counts"]["rejected_demonstrations"] == 2
