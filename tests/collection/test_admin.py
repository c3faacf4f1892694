"""An admin can browse, filter and search every model; collected data is read-only."""

import pytest
from django.contrib import admin

from collection.demo import demo_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    demo_load(simulate=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_every_registered_model_lists_and_filters(admin_client):
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        url = f"/admin/{meta.app_label}/{meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url
        if model_admin.search_fields:
            assert admin_client.get(url, {"q": "demo"}).status_code == 200, url


def test_demo_data_is_listed(admin_client):
    page = admin_client.get("/admin/collection/campaign/").content.decode()
    assert "everyday-advice-pairs" in page and "ward-handover-demos" in page
    audiences = admin_client.get("/admin/collection/audience/?kind__exact=dyadic").content
    assert b"alex-assistant" in audiences and b"uk-adults" not in audiences


def test_responses_cannot_be_edited(admin_client):
    assert admin_client.get("/admin/collection/response/add/").status_code == 403


def test_annotators_cannot_enter_the_admin(client):
    client.force_login(UserFactory())
    assert client.get("/admin/collection/response/").status_code == 302
