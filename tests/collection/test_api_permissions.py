"""Every endpoint and method × every kind of caller: the status code, and that a
refused request changed nothing."""

import io
import uuid

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from collection import services
from collection.models import (
    ApiToken,
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Consent,
    Invitation,
    Item,
    Membership,
    Response,
    Withdrawal,
)
from collection.permissions import RESEARCHERS_GROUP
from collection.services import api_token_create
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db
ROLES = ["anonymous", "annotator", "other_annotator", "researcher", "other_researcher", "admin"]


class World:
    def __init__(self):
        researchers, _ = Group.objects.get_or_create(name=RESEARCHERS_GROUP)
        self.users = {
            "researcher": UserFactory(username="researcher"),
            "other_researcher": UserFactory(username="other_researcher"),
            "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
        }
        for name in ("researcher", "other_researcher"):
            self.users[name].groups.add(researchers)
        self.everyone = AudienceFactory(slug="everyone", created_by=self.users["researcher"])
        self.dyad = AudienceFactory(
            slug="dyad", kind=Audience.Kind.DYADIC, created_by=self.users["researcher"]
        )
        self.campaign = make_campaign(
            slug="main",
            audiences={self.everyone: 2, self.dyad: 1},
            items=4,
            owners=[self.users["researcher"]],
        )
        make_campaign(
            slug="theirs",
            audiences={self.everyone: 1},
            items=2,
            owners=[self.users["other_researcher"]],
        )
        self.annotator = ready_participant(audience=self.everyone, campaign=self.campaign)
        self.other = ready_participant(audience=self.everyone, campaign=self.campaign)
        self.users["annotator"] = self.annotator.user
        self.users["other_annotator"] = self.other.user
        for participant in (self.annotator, self.other):
            lease = services.assignment_next(participant=participant, campaign=self.campaign)
            services.response_submit(
                participant=participant,
                assignment_id=lease.pk,
                payload={"choice": "a"},
                time_on_task_ms=100,
                idempotency_key=uuid.uuid4(),
            )
        self.lease = services.assignment_next(participant=self.annotator, campaign=self.campaign)
        self.item = self.campaign.items.first()
        self.token, _ = api_token_create(user=self.users["annotator"], name="mine")

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            _, key = api_token_create(user=self.users[role], name="matrix")
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client


def fingerprint() -> tuple:
    models = [
        Audience,
        Campaign,
        CampaignAudience,
        Item,
        Membership,
        Invitation,
        Consent,
        Assignment,
        Response,
        Withdrawal,
    ]
    counts = tuple(model.objects.count() for model in models)
    states = tuple(Campaign.objects.order_by("pk").values_list("status", "name"))
    live = tuple(Assignment.objects.order_by("pk").values_list("status", flat=True))
    targets = tuple(Audience.objects.order_by("pk").values_list("target_marginals", flat=True))
    revoked = tuple(ApiToken.objects.filter(name="mine").values_list("revoked_at", flat=True))
    withdrawn = Response.objects.filter(withdrawn_at__isnull=False).count()
    return counts, states, live, str(targets), revoked, withdrawn


def upload():
    return {
        "format": "jsonl",
        "file": io.BytesIO(b'{"prompt": "New?", "payload": {"candidates": ["x", "y"]}}\n'),
    }


# (method, url, body, expected status per role in ROLES order)
A, R, ADM = "annotator", "researcher", "admin"
MATRIX = [
    ("get", "/api/v1/me/", None, [401, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/tokens/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/tokens/", {"name": "n"}, [401, 201, 201, 201, 201, 201]),
    ("delete", "/api/v1/tokens/{token}/", None, [401, 204, 404, 404, 404, 404]),
    ("get", "/api/v1/audiences/", None, [401, 200, 200, 200, 200, 200]),
    (
        "post",
        "/api/v1/audiences/",
        {"slug": "new-{role}", "name": "New", "kind": "mass"},
        [401, 403, 403, 201, 201, 201],
    ),
    ("get", "/api/v1/audiences/everyone/", None, [401, 200, 200, 200, 200, 200]),
    ("get", "/api/v1/audiences/dyad/", None, [401, 404, 404, 200, 404, 200]),
    (
        "put",
        "/api/v1/audiences/everyone/targets/",
        {"target_marginals": {}},
        [401, 404, 404, 200, 404, 200],
    ),
    ("get", "/api/v1/audiences/everyone/invitations/", None, [401, 404, 404, 200, 404, 200]),
    ("post", "/api/v1/audiences/dyad/invitations/", {"note": "x"}, [401, 404, 404, 201, 404, 201]),
    ("get", "/api/v1/audiences/dyad/members/", None, [401, 404, 404, 200, 404, 200]),
    ("get", "/api/v1/audiences/everyone/members/", None, [401, 404, 404, 200, 404, 200]),
    ("post", "/api/v1/audiences/everyone/join/", {}, [401, 201, 201, 201, 201, 201]),
    ("post", "/api/v1/audiences/dyad/join/", {}, [401, 404, 404, 403, 404, 403]),
    (
        "put",
        "/api/v1/audiences/everyone/profile/",
        {"attributes": {}},
        [401, 200, 200, 404, 404, 404],
    ),
    ("get", "/api/v1/campaigns/", None, [401, 200, 200, 200, 200, 200]),
    (
        "post",
        "/api/v1/campaigns/",
        {"slug": "c-{role}", "name": "C", "item_kind": "qa"},
        [401, 403, 403, 201, 201, 201],
    ),
    ("get", "/api/v1/campaigns/main/", None, [401, 404, 404, 200, 404, 200]),
    ("patch", "/api/v1/campaigns/main/", {"name": "Renamed"}, [401, 404, 404, 200, 404, 200]),
    (
        "post",
        "/api/v1/campaigns/main/status/",
        {"status": "paused"},
        [401, 404, 404, 200, 404, 200],
    ),
    ("get", "/api/v1/campaigns/main/progress/", None, [401, 404, 404, 200, 404, 200]),
    ("get", "/api/v1/campaigns/main/items/", None, [401, 404, 404, 200, 404, 200]),
    ("post", "/api/v1/campaigns/main/items/import/", "upload", [401, 404, 404, 201, 404, 201]),
    ("get", "/api/v1/items/{item}/", None, [401, 404, 404, 200, 404, 200]),
    ("post", "/api/v1/campaigns/main/consent/", None, [401, 201, 201, 404, 404, 404]),
    ("post", "/api/v1/campaigns/main/next/", None, [401, 200, 200, 404, 404, 404]),
    (
        "post",
        "/api/v1/assignments/{lease}/submit/",
        {"payload": {"choice": "b"}, "time_on_task_ms": 5, "idempotency_key": str(uuid.uuid4())},
        [401, 201, 404, 404, 404, 404],
    ),
    ("post", "/api/v1/assignments/{lease}/skip/", {}, [401, 200, 404, 404, 404, 404]),
    ("get", "/api/v1/responses/", None, [401, 200, 200, 200, 200, 200]),
    ("post", "/api/v1/withdrawals/", {"campaign": "main"}, [401, 201, 201, 404, 404, 404]),
]
CASES = [
    pytest.param(method, url, body, role, codes[i], id=f"{method.upper()} {url} as {role}")
    for method, url, body, codes in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("method", "url", "body", "role", "expected"), CASES)
def test_permission_matrix(method, url, body, role, expected):
    world = World()
    client = world.client(role)
    url = url.format(token=world.token.pk, item=world.item.pk, lease=world.lease.pk)
    before = fingerprint()
    if body == "upload":
        answer = client.post(url, upload(), format="multipart")
    elif body is None:
        answer = getattr(client, method)(url)
    else:
        body = {
            key: value.format(role=role) if isinstance(value, str) else value
            for key, value in body.items()
        }
        answer = getattr(client, method)(url, body, format="json")
    assert answer.status_code == expected, answer.content[:300]
    if expected >= 400:
        assert fingerprint() == before


def test_lists_show_only_what_the_caller_may_see():
    world = World()
    annotator = world.client("annotator")
    mine = annotator.get("/api/v1/responses/").json()["results"]
    assert {row["participant"] for row in mine} == {world.annotator.pk}
    researcher = world.client("other_researcher")
    campaigns = [row["slug"] for row in researcher.get("/api/v1/campaigns/").json()["results"]]
    assert campaigns == ["theirs"]
    their_responses = researcher.get("/api/v1/responses/").json()["results"]
    assert all(row["campaign"] == "theirs" for row in their_responses)
    audiences = [row["slug"] for row in researcher.get("/api/v1/audiences/").json()["results"]]
    assert "dyad" not in audiences
    owner = world.client("researcher")
    assert len(owner.get("/api/v1/responses/?campaign=main").json()["results"]) == 2
    # The annotator's view of an item never shows which model wrote a candidate.
    next_item = annotator.post("/api/v1/campaigns/main/next/").json()
    assert all(set(c) == {"id", "text"} for c in next_item["item"]["candidates"])


def test_a_revoked_token_stops_working():
    world = World()
    user = world.users["researcher"]
    token, key = api_token_create(user=user, name="temp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").status_code == 200
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401
