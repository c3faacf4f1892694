"""Imports and request bodies have a size cap, refused with a 413 that names it, and
the cap stops the reading: an oversized upload is refused before its body is read."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from rest_framework.test import APIClient

from collection.imports import ImportFileError, items_import
from collection.models import Item, Slot
from collection.permissions import RESEARCHERS_GROUP
from collection.services import api_token_create
from config.wsgi import application
from tests.factories import AudienceFactory, UserFactory, make_campaign

pytestmark = pytest.mark.django_db
LIMIT = 10_000


def jsonl(count: int) -> bytes:
    return b"".join(
        json.dumps(
            {"external_id": f"x{n}", "prompt": f"Q{n}", "payload": {"candidates": ["A", "B"]}}
        ).encode()
        + b"\n"
        for n in range(count)
    )


class CountingStream(io.BytesIO):
    """Remembers how many bytes were read from it."""

    read_bytes = 0

    def read(self, size=-1):
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.read_bytes += len(data)
        return data


@pytest.fixture
def researcher():
    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def campaign(researcher):
    return make_campaign(audiences={AudienceFactory(): 2}, items=0, owners=[researcher])


@pytest.fixture
def keep_connection():
    # As in test_api_schemathesis: a request straight to the WSGI app runs inside the
    # test's transaction, so the request signals must not close the connection.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def small_cap(settings):
    settings.IMPORT_MAX_BYTES = LIMIT
    return LIMIT


def test_an_upload_over_the_cap_is_refused_with_413_before_its_body_is_read(
    researcher, campaign, small_cap, keep_connection
):
    # Straight to the WSGI app, so the test sees how much of the body was read.
    key = api_token_create(user=researcher, name="upload")[1]
    file = io.BytesIO(jsonl(400))
    file.name = "items.jsonl"
    body = encode_multipart(BOUNDARY, {"file": file, "format": "jsonl"})
    assert len(body) > small_cap
    stream = CountingStream(body)
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/api/v1/campaigns/{campaign.slug}/items/import/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": stream,
        "CONTENT_TYPE": MULTIPART_CONTENT,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Token {key}",
    }
    answer = json.loads(b"".join(application(environ, start_response)))
    assert seen["status"].startswith("413")
    assert answer["code"] == "too_large" and answer["field"] == "file"
    assert "10,000 bytes" in answer["detail"] and "PLURALIGN_IMPORT_MAX_BYTES" in answer["detail"]
    assert stream.read_bytes == 0
    assert not Item.objects.exists()


def test_an_upload_under_the_cap_is_imported(researcher, campaign, small_cap):
    client = APIClient()
    client.force_authenticate(researcher)
    file = io.BytesIO(jsonl(20))
    file.name = "items.jsonl"
    answer = client.post(
        f"/api/v1/campaigns/{campaign.slug}/items/import/", {"file": file}, format="multipart"
    )
    assert answer.status_code == 201 and answer.json()["created"] == 20


def test_an_import_stops_reading_at_the_cap_and_stores_nothing(campaign):
    content = jsonl(2_000)
    stream = CountingStream(content)
    with pytest.raises(ImportFileError) as caught:
        items_import(campaign=campaign, stream=stream, file_format="jsonl", max_bytes=LIMIT)
    assert caught.value.status == 413 and "10,000 bytes" in str(caught.value)
    assert caught.value.line is not None
    # One line past the cap at most, not the whole file.
    assert LIMIT < stream.read_bytes <= LIMIT + max(map(len, content.splitlines(True)))
    assert stream.read_bytes < len(content) / 5
    assert (Item.objects.count(), Slot.objects.count()) == (0, 0)


def test_the_cli_says_how_to_raise_the_cap_and_imports_when_raised(campaign, small_cap, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(400))
    with pytest.raises(CommandError) as caught:
        call_command("import_items", campaign.slug, str(path))
    assert "10,000 bytes" in str(caught.value) and "--max-bytes" in str(caught.value)
    assert not Item.objects.exists()
    out = io.StringIO()
    call_command("import_items", campaign.slug, str(path), "--max-bytes", "0", stdout=out)
    assert "Imported 400 items" in out.getvalue()


def test_a_json_body_over_the_data_limit_is_refused_with_413(researcher, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    client = APIClient()
    client.force_authenticate(researcher)
    answer = client.post(
        "/api/v1/audiences/",
        data=json.dumps({"slug": "a", "name": "A", "kind": "mass", "description": "x" * 2_000}),
        content_type="application/json",
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "too_large" and "1,000 bytes" in answer.json()["detail"]
