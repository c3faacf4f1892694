from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from endpoints.standin import StandinServer
from tests.factories import make_researcher
from tests.helpers import STANDIN_KEY


@pytest.fixture(autouse=True)
def _quick_backoff(settings):
    settings.PLURALIGN_GENERATION_BACKOFF_S = 0.01


@pytest.fixture
def standin():
    with StandinServer(api_key=STANDIN_KEY) as server:
        yield server


@pytest.fixture
def researcher(db):
    return make_researcher()


@pytest.fixture
def api(researcher) -> APIClient:
    client = APIClient()
    client.force_authenticate(researcher)
    return client
