"""Who may start, watch and download releases: the API and the researcher's page."""

from __future__ import annotations

import io
import zipfile

import pytest
from rest_framework.test import APIClient

from aggregation.models import ExportJob, Release
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_owner_starts_polls_and_downloads_a_release(
    preference_campaign, owner, django_capture_on_commit_callbacks
):
    api = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/campaigns/advice-pairs/exports/",
            {"audiences": ["uk-adults"], "formats": ["jsonl"], "options": {"min_cell_size": 3}},
            format="json",
        )
    assert created.status_code == 201, created.content
    assert created.data["version"] == 1 and created.data["status"] == "queued"
    polled = api.get(created["Location"])
    assert polled.status_code == 200
    assert polled.data["status"] == "succeeded" and polled.data["progress"] == 1.0
    release = polled.data["release"]
    assert release["audiences"] == ["uk-adults"]
    paths = [entry["path"] for entry in release["files"]]
    assert "uk-adults/preferences.parquet" in paths and "uk-adults/preferences.jsonl" in paths

    archive = api.get(release["download_url"])
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert "advice-pairs-v1/manifest.json" in names
    assert "advice-pairs-v1/uk-adults/preferences.parquet" in names
    single = api.get(release["files"][0]["url"])
    assert single.status_code == 200
    listed = api.get("/api/v1/campaigns/advice-pairs/releases/").data
    assert listed["count"] == 1 and listed["results"][0]["version"] == 1
    missing = api.get("/api/v1/campaigns/advice-pairs/releases/1/files/../../settings.py")
    assert missing.status_code == 404

    # Bad input names the field and changes nothing.
    bad = api.post(
        "/api/v1/campaigns/advice-pairs/exports/",
        {"audiences": ["nobody"], "options": {"min_cell_size": 0}},
        format="json",
    )
    assert bad.status_code == 400 and bad.data["field"] == "audiences"
    bad = api.post(
        "/api/v1/campaigns/advice-pairs/exports/", {"options": {"colour": 1}}, format="json"
    )
    assert bad.status_code == 400 and bad.data["field"] == "options.colour"
    bad = api.post(
        "/api/v1/campaigns/advice-pairs/exports/",
        {"options": {"split_views": "yes"}},
        format="json",
    )
    assert bad.status_code == 400 and bad.data["field"] == "options.split_views"
    assert ExportJob.objects.count() == 1
    # A finished job cannot be re-run.
    assert api.post(f"/api/v1/exports/{created.data['id']}/retry/").status_code == 409


def test_other_people_cannot_see_or_start_exports(
    preference_campaign, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client_for(owner).post("/api/v1/campaigns/advice-pairs/exports/").data["id"]
    stranger = client_for(UserFactory())
    urls = [
        "/api/v1/campaigns/advice-pairs/exports/",
        f"/api/v1/exports/{job_id}/",
        "/api/v1/campaigns/advice-pairs/releases/",
        "/api/v1/campaigns/advice-pairs/releases/1/download/",
        "/api/v1/campaigns/advice-pairs/releases/1/files/README.md",
    ]
    for url in urls:
        assert stranger.get(url).status_code == 404, url
        assert client_for(None).get(url).status_code in (401, 403), url
    assert stranger.post("/api/v1/campaigns/advice-pairs/exports/").status_code == 404
    assert client_for(None).post("/api/v1/campaigns/advice-pairs/exports/").status_code in (
        401,
        403,
    )
    staff = client_for(UserFactory(is_staff=True))
    assert staff.get(f"/api/v1/exports/{job_id}/").status_code == 200
    assert ExportJob.objects.count() == 1


def test_the_release_page_starts_an_export_and_lists_downloads(
    client, preference_campaign, owner, django_capture_on_commit_callbacks
):
    page = "/campaigns/advice-pairs/releases/"
    assert client.get(page).status_code == 302  # to the login page
    client.force_login(UserFactory())
    assert client.get(page).status_code == 404
    client.force_login(owner)
    assert "Nothing published yet" in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page, {"formats": ["openai"], "min_cell_size": "5"})
    assert response.status_code == 302
    html = client.get(page).content.decode()
    release = Release.objects.get()
    assert "v1" in html and "/campaigns/advice-pairs/releases/1/download/" in html
    assert "uk-adults/preferences.openai.jsonl" in html
    download = client.get("/campaigns/advice-pairs/releases/1/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith(f'"{release.zip_name}"')
    readme = client.get("/campaigns/advice-pairs/releases/1/files/README.md")
    assert b"configs:" in b"".join(readme.streaming_content)
