from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from collection import imports
from collection import services as collection_services
from collection.permissions import RESEARCHERS_GROUP
from endpoints import services
from endpoints.standin import StandinServer
from tests.factories import AudienceFactory, CampaignFactory, UserFactory

STANDIN_KEY = "sk-standin-5e3f9c1b7a2d4e60"


@pytest.fixture(autouse=True)
def _quick_backoff(settings):
    settings.PLURALIGN_GENERATION_BACKOFF_S = 0.01


@pytest.fixture
def standin():
    with StandinServer(api_key=STANDIN_KEY) as server:
        yield server


def make_researcher(**fields):
    user = UserFactory(**fields)
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def researcher(db):
    return make_researcher()


@pytest.fixture
def api(researcher) -> APIClient:
    client = APIClient()
    client.force_authenticate(researcher)
    return client


def make_endpoint(owner, server: StandinServer, name: str, *, key: str = STANDIN_KEY, **fields):
    return services.endpoint_create(
        owner=owner,
        name=name,
        base_url=server.base_url,
        model=fields.pop("model", name),
        api_key=key,
        **{"timeout_seconds": 5.0, **fields},
    )


def prompts_only_campaign(owner, *, items: int = 4, k: int = 2, **fields):
    """A preference campaign whose items came without candidates (imported prompts only)."""
    campaign = CampaignFactory(owners=[owner], **fields)
    audience = AudienceFactory(slug=f"everyone-{campaign.slug}")
    collection_services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
    lines = "\n".join(
        json.dumps({"external_id": f"p{n}", "prompt": f"How should I answer question {n}?"})
        for n in range(items)
    )
    imports.items_import(
        campaign=campaign,
        stream=io.BytesIO(lines.encode()),
        file_format="jsonl",
        prompts_only=True,
    )
    return campaign, audience
