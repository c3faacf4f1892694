"""Property-based requests from the generated OpenAPI schema: no request, however
odd, gets a server error."""

import pytest
import schemathesis
from django.contrib.auth.models import Group
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from collection import services
from collection.models import Audience
from collection.permissions import RESEARCHERS_GROUP
from collection.services import api_token_create
from config.wsgi import application
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture
def keep_connection():
    # Requests go straight to the WSGI app, inside the test's transaction; like
    # Django's test client, stop the request signals from closing the connection.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def keys(db, keep_connection) -> dict[str, str]:
    researcher = UserFactory()
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    audience = AudienceFactory(slug="everyone", created_by=researcher)
    AudienceFactory(slug="dyad", kind=Audience.Kind.DYADIC, created_by=researcher)
    campaign = make_campaign(slug="main", audiences={audience: 2}, items=5, owners=[researcher])
    annotator = ready_participant(audience=audience, campaign=campaign)
    services.assignment_next(participant=annotator, campaign=campaign)
    return {
        "researcher": api_token_create(user=researcher, name="fuzz")[1],
        "annotator": api_token_create(user=annotator.user, name="fuzz")[1],
    }


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("role", ["researcher", "annotator"])
def test_no_server_errors(case, keys, role):
    response = case.call(headers={"Authorization": f"Token {keys[role]}"})
    assert response.status_code < 500, (response.status_code, response.text[:500])
