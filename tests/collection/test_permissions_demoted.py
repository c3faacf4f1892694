"""One rule for who manages a campaign, in both apps: a researcher removed from the
researchers group loses every door to their campaigns' releases, not only the
campaign API; staff keep theirs; the dashboard keeps its own rule (staff only)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from aggregation.models import ExportJob, Release
from aggregation.release import jobs as release_jobs
from collection.models import Audience
from collection.permissions import RESEARCHERS_GROUP
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant
from tests.helpers import respond_to_all

pytestmark = pytest.mark.django_db
SLUG = "dyad-advice"


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """A researcher's campaign over a mass audience and a dyad, with release v1 built."""
    researchers, _ = Group.objects.get_or_create(name=RESEARCHERS_GROUP)
    owner = UserFactory(username="owner")
    owner.groups.add(researchers)
    everyone = AudienceFactory(slug="everyone")
    dyad = AudienceFactory(slug="alex-assistant", name="Alex's assistant", kind="dyadic")
    campaign = make_campaign(audiences={everyone: 2, dyad: 1}, items=3, owners=[owner], slug=SLUG)
    for audience in (everyone, everyone, dyad):
        person = ready_participant(audience=audience, campaign=campaign)
        respond_to_all(person, campaign, audience, lambda item: {"choice": "a"})
    with django_capture_on_commit_callbacks(execute=True):
        job = release_jobs.export_job_create(campaign=campaign, created_by=owner)
    release = Release.objects.get(campaign=campaign)
    dyad_file = f"{dyad.slug}/preferences.parquet"
    assert release.file_entry(dyad_file) is not None
    return {"owner": owner, "job": job, "dyad_file": dyad_file, "group": researchers}


def api_doors(job_id: int, dyad_file: str) -> list[tuple[str, str]]:
    base = f"/api/v1/campaigns/{SLUG}"
    return [
        ("get", f"{base}/"),
        ("get", f"{base}/releases/"),
        ("get", f"{base}/releases/1/"),
        ("get", f"{base}/releases/1/download/"),
        ("get", f"{base}/releases/1/files/manifest.json"),
        ("get", f"{base}/releases/1/files/{dyad_file}"),
        ("get", f"{base}/exports/"),
        ("get", f"/api/v1/exports/{job_id}/"),
    ]


def page_doors(dyad_file: str, chart: str) -> list[str]:
    base = f"/campaigns/{SLUG}"
    return [
        f"{base}/",
        chart,
        f"{base}/releases/",
        f"{base}/releases/1/",
        f"{base}/releases/1/download/",
        f"{base}/releases/1/files/{dyad_file}",
    ]


def chart_url(client) -> str:
    html = client.get(f"/campaigns/{SLUG}/").content.decode()
    return re.search(r'src="(/campaigns/[^"]+\.svg)[^"]*"', html).group(1)


def test_a_demoted_owner_reaches_no_release_door_and_starts_nothing(client, published):
    owner, job = published["owner"], published["job"]
    api = APIClient()
    api.force_authenticate(owner)
    client.force_login(owner)
    chart = chart_url(client)
    # While a researcher, every door opens: the doors below are real, not all 404.
    for method, url in api_doors(job.pk, published["dyad_file"]):
        assert getattr(api, method)(url).status_code == 200, url
    for url in page_doors(published["dyad_file"], chart):
        assert client.get(url).status_code == 200, url

    owner.groups.remove(published["group"])

    for method, url in api_doors(job.pk, published["dyad_file"]):
        assert getattr(api, method)(url).status_code == 404, url
    for url in page_doors(published["dyad_file"], chart):
        assert client.get(url).status_code == 404, url
    assert api.post(f"/api/v1/campaigns/{SLUG}/exports/").status_code == 404
    assert api.post(f"/api/v1/exports/{job.pk}/retry/").status_code == 404
    assert client.post(f"/campaigns/{SLUG}/releases/", {"formats": ["jsonl"]}).status_code == 404
    assert client.post(f"/campaigns/{SLUG}/releases/{job.pk}/retry/").status_code == 404
    assert api.get("/api/v1/alerts/").status_code == 403
    assert client.get("/campaigns/").status_code == 403
    assert "Campaigns I run" not in client.get("/").content.decode()
    assert ExportJob.objects.count() == 1 and Release.objects.count() == 1


def test_staff_outside_the_researchers_group_keep_every_door(client, published):
    admin = UserFactory(username="admin", is_staff=True)
    api = APIClient()
    api.force_authenticate(admin)
    client.force_login(admin)
    for method, url in api_doors(published["job"].pk, published["dyad_file"]):
        assert getattr(api, method)(url).status_code == 200, url
    for url in page_doors(published["dyad_file"], chart_url(client)):
        assert client.get(url).status_code == 200, url
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/campaigns/").status_code == 200


def test_the_dashboard_stays_staff_only_for_researchers_and_demoted_owners(client, published):
    client.force_login(published["owner"])
    assert client.get("/dashboard/").status_code == 403
    published["owner"].groups.remove(published["group"])
    assert client.get("/dashboard/").status_code == 403


def test_a_demoted_owner_no_longer_sees_the_members_of_their_campaigns_dyad(published):
    api = APIClient()
    api.force_authenticate(published["owner"])
    dyad = Audience.objects.get(slug="alex-assistant")
    dyad.created_by = published["owner"]
    dyad.save()
    assert api.get("/api/v1/audiences/alex-assistant/members/").status_code == 200
    published["owner"].groups.remove(published["group"])
    assert api.get("/api/v1/audiences/alex-assistant/members/").status_code == 404
