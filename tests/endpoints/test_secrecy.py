"""An endpoint's API key is encrypted at rest and leaves the server in nothing it serves."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from endpoints import crypto, services
from endpoints.models import ModelEndpoint
from tests.factories import UserFactory
from tests.helpers import STANDIN_KEY, make_endpoint, prompts_only_campaign

pytestmark = pytest.mark.django_db


def raw_key_column(endpoint_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_encrypted FROM endpoints_modelendpoint WHERE id = %s", [endpoint_id]
        )
        return cursor.fetchone()[0]


def test_the_database_holds_only_a_token_that_decrypts_to_the_key(researcher, standin):
    endpoint = make_endpoint(researcher, standin, "one")
    stored = raw_key_column(endpoint.pk)
    assert STANDIN_KEY not in stored and stored.startswith("gAAAA")
    assert crypto.decrypt(stored) == STANDIN_KEY
    assert STANDIN_KEY not in repr(endpoint) and STANDIN_KEY not in str(endpoint)


def test_rotating_keys_reencrypts_and_old_tokens_still_read(researcher, standin, settings):
    endpoint = make_endpoint(researcher, standin, "one")
    old = raw_key_column(endpoint.pk)
    newest = Fernet.generate_key().decode()
    settings.PLURALIGN_ENDPOINT_KEYS = [newest, *settings.PLURALIGN_ENDPOINT_KEYS]
    assert crypto.decrypt(old) == STANDIN_KEY
    assert services.endpoint_keys_rotate() == 1
    rotated = raw_key_column(endpoint.pk)
    settings.PLURALIGN_ENDPOINT_KEYS = settings.PLURALIGN_ENDPOINT_KEYS[:1]
    assert rotated != old and crypto.decrypt(rotated) == STANDIN_KEY


def test_deploy_check_requires_endpoint_keys_with_debug_off(settings):
    from endpoints.checks import endpoint_keys_set

    settings.DEBUG = False
    settings.PLURALIGN_ENDPOINT_KEYS = []
    assert [error.id for error in endpoint_keys_set(None)] == ["endpoints.E001"]


def test_the_key_is_in_no_response_page_admin_page_or_log_line(
    researcher, standin, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    served: list[tuple[str, bytes]] = []

    def keep(label, response):
        served.append((label, response.content))
        assert response.status_code < 400, (label, response.status_code, response.content[:300])
        return response

    api = APIClient()
    api.force_authenticate(researcher)
    created = keep(
        "create",
        api.post(
            "/api/v1/endpoints/",
            {
                "name": "Stand-in",
                "base_url": standin.base_url,
                "model": "standin-a",
                "api_key": STANDIN_KEY,
                "timeout_seconds": 5,
            },
            format="json",
        ),
    ).json()
    assert created["has_api_key"] is True and "api_key" not in created
    endpoint_id = created["id"]
    keep("list", api.get("/api/v1/endpoints/"))
    keep("detail", api.get(f"/api/v1/endpoints/{endpoint_id}/"))
    keep("patch", api.patch(f"/api/v1/endpoints/{endpoint_id}/", {"temperature": 0.5}))
    tested = keep("test", api.post(f"/api/v1/endpoints/{endpoint_id}/test/")).json()
    assert tested["ok"] is True, tested
    assert standin.requests[-1]["model"] == "standin-a"
    second = make_endpoint(researcher, standin, "second")
    campaign, _ = prompts_only_campaign(researcher, items=2)
    with django_capture_on_commit_callbacks(execute=True):
        job = keep(
            "job",
            api.post(
                "/api/v1/generation-jobs/",
                {
                    "campaign": campaign.slug,
                    "sources": [{"endpoint": endpoint_id}, {"endpoint": second.pk}],
                },
                format="json",
            ),
        ).json()
    keep("job detail", api.get(f"/api/v1/generation-jobs/{job['id']}/"))
    keep("items", api.get(f"/api/v1/campaigns/{campaign.slug}/items/"))
    keep("schema", api.get("/api/schema/"))
    researcher_pages = Client()
    researcher_pages.force_login(researcher)
    registered = researcher_pages.post(
        "/endpoints/",
        {
            "name": "From the page",
            "base_url": standin.base_url,
            "model": "standin-page",
            "api_key": STANDIN_KEY,
            "timeout_seconds": 5,
            "max_concurrency": 2,
        },
    )
    assert registered.status_code == 302, registered.content[:2000]
    from_page = ModelEndpoint.objects.get(name="From the page")
    assert crypto.decrypt(from_page.api_key_encrypted) == STANDIN_KEY
    tested_page = researcher_pages.post(f"/endpoints/{from_page.pk}/test/", follow=True)
    keep("test from page", tested_page)
    assert b"standin-page answered in" in tested_page.content
    keep("endpoints page", researcher_pages.get("/endpoints/"))
    keep("campaign page", researcher_pages.get(f"/campaigns/{campaign.slug}/"))
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    keep("admin list", admin.get("/admin/endpoints/modelendpoint/"))
    keep("admin change", admin.get(f"/admin/endpoints/modelendpoint/{endpoint_id}/change/"))
    keep("admin job", admin.get(f"/admin/endpoints/generationjob/{job['id']}/change/"))
    keep("admin item", admin.get(f"/admin/collection/item/{campaign.items.first().pk}/change/"))
    assert len(served) >= 14
    leaks = [label for label, body in served if STANDIN_KEY.encode() in body]
    assert leaks == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert STANDIN_KEY not in logged and "HTTP Request" in logged  # httpx did log, without it
    # The key did reach the endpoint, as a bearer header (the stand-in checks it).
    assert ModelEndpoint.objects.get(pk=endpoint_id).has_api_key
