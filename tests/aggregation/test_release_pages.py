"""The release page and API say how an export stands, the card reads as a page, and the
web's release paths are the API's (old ``v1`` links redirect)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from aggregation.models import ExportJob
from aggregation.views import card_html
from tests.factories import UserFactory

RELEASES = "/campaigns/advice-pairs/releases/"


@pytest.fixture(autouse=True)
def releases_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"


@pytest.mark.django_db(transaction=True)
def test_starting_an_export_without_a_broker_answers_the_finished_release(
    preference_campaign, owner
):
    # Transactional: the build runs on commit, in-process, as it does without a broker.
    api = APIClient()
    api.force_authenticate(owner)
    created = api.post("/api/v1/campaigns/advice-pairs/exports/", {}, format="json")
    assert created.status_code == 201, created.content
    assert created.data["status"] == "succeeded"
    assert created.data["message"] != "Waiting for a worker."
    assert created.data["release"]["version"] == 1

    client = Client()
    client.force_login(owner)
    page = client.post(RELEASES, {"min_cell_size": "5"}, follow=True).content.decode()
    assert "Release v2 is published." in page
    assert "The export has started" not in page and "updates itself" not in page
    assert ExportJob.objects.filter(status="succeeded").count() == 2


@pytest.mark.django_db
def test_the_card_reads_as_a_page_and_old_v_links_redirect(
    client, preference_campaign, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RELEASES, {"min_cell_size": "5"})
    releases = client.get(RELEASES).content.decode()
    assert 'href="/campaigns/advice-pairs/releases/1/"' in releases
    card = client.get(f"{RELEASES}1/")
    assert card.status_code == 200 and card["Content-Type"].startswith("text/html")
    html = card.content.decode()
    assert "<h1>Advice pairs: release v1</h1>" in html
    assert f'src="{RELEASES}1/files/plots/' in html  # the card's plots, served
    assert "configs:" in html  # the YAML header, shown apart

    old = client.get(f"{RELEASES}v1/download/")
    assert old.status_code == 301 and old["Location"] == f"{RELEASES}1/download/"
    old = client.get(f"{RELEASES}v1/files/README.md")
    assert old.status_code == 301 and old["Location"] == f"{RELEASES}1/files/README.md"

    client.force_login(UserFactory())
    for url in (f"{RELEASES}1/", f"{RELEASES}v1/download/"):
        assert client.get(url).status_code == 404, url


def test_the_card_page_escapes_what_the_card_quotes():
    markdown = (
        "---\nconfigs: []\n---\n# Campaign <script>alert(1)</script>\n\n"
        "[win](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n"
        "![coverage](plots/coverage.png) [away](https://example.org/x)\n"
    )
    header, body = card_html(markdown, files_url="/files/")
    assert header == "configs: []"
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror" in body
    assert 'href="javascript:' not in body
    assert '<img src="/files/plots/coverage.png" alt="coverage"' in body
    assert 'href="https://example.org/x"' in body
