"""A compressed upload is limited by what it unpacks to, not by its own size: a gzip bomb
is refused (413) once the unpacked bytes pass the import limit, and stores nothing."""

from __future__ import annotations

import gzip
import io
import json

import pytest
from rest_framework.test import APIClient

from tests.factories import AudienceFactory, make_campaign, make_researcher

pytestmark = pytest.mark.django_db

ROW = json.dumps(
    {"prompt": "p", "payload": {"candidates": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]}}
)


@pytest.mark.parametrize(
    "unpacked",
    [(ROW + "\n").encode() * 60_000, b" " * 8_000_000],
    ids=["many rows", "one endless line"],
)
def test_a_gzip_bomb_is_refused_by_its_unpacked_size_and_stores_nothing(settings, unpacked):
    settings.IMPORT_MAX_BYTES = 1_000_000
    owner = make_researcher()
    campaign = make_campaign(audiences={AudienceFactory(): 2}, items=0, owners=[owner])
    packed = gzip.compress(unpacked, compresslevel=9)
    assert len(packed) < settings.IMPORT_MAX_BYTES < len(unpacked)
    client = APIClient()
    client.force_authenticate(owner)
    upload = io.BytesIO(packed)
    upload.name = "bomb.jsonl.gz"
    answer = client.post(
        f"/api/v1/campaigns/{campaign.slug}/items/import/", {"file": upload}, format="multipart"
    )
    assert answer.status_code in (400, 413), answer.content[:300]
    assert answer.json()["code"]
    assert campaign.items.count() == 0
