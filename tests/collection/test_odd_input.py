"""No input, however odd, gets a 500: every door answers 4xx, names the field (and
the line, for imports) and writes nothing.

The odd inputs are an outside probe's (issue #10): NUL, lone surrogates both as a
JSON escape and as raw UTF-8 bytes, 10,000 levels of nesting, 5,000-digit numbers
and number strings, and "²" (a digit to str.isdigit, not to int). Each is sent
through each API write endpoint and filter, each web form and each import format.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from aggregation.models import CoverageAlert, ExportJob
from collection import payloads, services
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
    Slot,
    Withdrawal,
)
from collection.permissions import RESEARCHERS_GROUP
from tests.factories import AudienceFactory, UserFactory, make_campaign, ready_participant

pytestmark = pytest.mark.django_db

ODD = "@ODD@"
DEEP = "[" * 10_000 + "]" * 10_000
# JSON text put where ODD stands in a body; "raw" ones carry real surrogate code
# points, sent as their UTF-8 bytes (ED A0 80), not as a \ud800 escape.
ODD_TEXT = {
    "nul": '"a\\u0000b"',
    "surrogate escape": '"a\\ud800b"',
    "surrogate raw bytes": '"a\ud800b"',
    "deep nesting": DEEP,
}
ODD_NUMBER = {
    "5,000-digit number": "1" * 5_000,
    "5,000-digit string": '"' + "1" * 5_000 + '"',
    "superscript two": '"²"',
    "full-width five": '"５"',
    "nul": '"1\\u0000"',
    "deep nesting": DEEP,
}
STORED_TABLES = [
    ApiToken,
    Audience,
    Campaign,
    CampaignAudience,
    Consent,
    Invitation,
    Item,
    Membership,
    Response,
    Withdrawal,
    ExportJob,
    CoverageAlert,
]


def stored() -> list:
    return [list(model.objects.order_by("pk").values()) for model in STORED_TABLES]


def json_body(template: dict, odd: str) -> bytes:
    text = json.dumps(template).replace(json.dumps(ODD), odd)
    return text.encode("utf-8", "surrogatepass")


def reported_field(body: dict) -> str:
    """The field an error names: the house's "field", or the path to DRF's first message."""
    if "field" in body:
        return body["field"]
    path, node = [], body
    while isinstance(node, dict | list) and node:
        if isinstance(node, list):
            index = next((i for i, entry in enumerate(node) if entry), 0)
            if isinstance(node[index], str):
                break
            path.append(str(index))
            node = node[index]
        else:
            key = next(iter(node))
            path.append(key)
            node = node[key]
    return ".".join(path)


def names(reported: str, expected: str) -> bool:
    """The error names the expected field: the same path, a deeper one inside it (too-deep
    nesting names the level it gave up at), or the payload-relative path the response
    validator uses (``confidence`` for ``payload.confidence``)."""
    got, want = reported.split("."), expected.split(".")
    return got[: len(want)] == want or want[-len(got) :] == got


@pytest.fixture
def world():
    researcher = UserFactory(username="researcher")
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    audience = AudienceFactory(
        slug="everyone",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=[{"name": "age", "label": "Age", "choices": ["young", "old"]}],
        created_by=researcher,
    )
    campaign = make_campaign(
        slug="main",
        audiences={audience: 2},
        items=3,
        owners=[researcher],
        rating_min=1,
        rating_max=5,
        ask_rationale=True,
        ask_confidence=True,
    )
    participant = ready_participant(audience=audience, campaign=campaign, attributes={"age": "old"})
    assignment = services.assignment_next(participant=participant, campaign=campaign)
    Invitation.objects.create(audience=audience, created_by=researcher, token="tok")
    return {
        "researcher": researcher,
        "annotator": participant.user,
        "newcomer": UserFactory(username="newcomer"),
        "audience": audience,
        "campaign": campaign,
        "assignment": assignment,
    }


def api(world, role: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(world[role])
    return client


# The API's JSON doors -------------------------------------------------------------

SUBMIT = {"time_on_task_ms": 900, "idempotency_key": "5b1f6c8e-0f4a-4d5e-9a51-6c7f1b2a3d4e"}
AUDIENCE = {"slug": "new", "name": "New", "kind": "public"}
CAMPAIGN = {"slug": "new", "name": "New", "item_kind": "preference"}
# (door, role, method, url, body, the field it must name, text or number)
JSON_DOORS = [
    ("token name", "researcher", "post", "/api/v1/tokens/", {"name": ODD}, "name", "text"),
    ("audience name", "researcher", "post", "/api/v1/audiences/", {**AUDIENCE, "name": ODD},
     "name", "text"),
    ("audience description", "researcher", "post", "/api/v1/audiences/",
     {**AUDIENCE, "description": ODD}, "description", "text"),
    ("attribute choice", "researcher", "post", "/api/v1/audiences/",
     {**AUDIENCE, "attribute_schema": [{"name": "age", "choices": ["a", ODD]}]},
     "attribute_schema.0.choices.1", "text"),
    ("attribute name", "researcher", "post", "/api/v1/audiences/",
     {**AUDIENCE, "attribute_schema": [{"name": ODD, "choices": ["a", "b"]}]},
     "attribute_schema.0.name", "text"),
    ("audience size", "researcher", "post", "/api/v1/audiences/",
     {**AUDIENCE, "max_members": ODD}, "max_members", "number"),
    ("target share", "researcher", "put", "/api/v1/audiences/everyone/targets/",
     {"target_marginals": {"age": {"young": ODD, "old": 0.5}}},
     "target_marginals.age.young", "number"),
    ("invitation note", "researcher", "post", "/api/v1/audiences/everyone/invitations/",
     {"note": ODD}, "note", "text"),
    ("invitation uses", "researcher", "post", "/api/v1/audiences/everyone/invitations/",
     {"max_uses": ODD}, "max_uses", "number"),
    ("join attributes", "newcomer", "post", "/api/v1/audiences/everyone/join/",
     {"attributes": {"age": ODD}}, "attributes.age", "text"),
    ("join invitation", "newcomer", "post", "/api/v1/audiences/everyone/join/",
     {"invitation": ODD}, "invitation", "text"),
    ("profile attributes", "annotator", "put", "/api/v1/audiences/everyone/profile/",
     {"attributes": {"age": ODD}}, "attributes.age", "text"),
    ("campaign name", "researcher", "post", "/api/v1/campaigns/", {**CAMPAIGN, "name": ODD},
     "name", "text"),
    ("campaign consent text", "researcher", "post", "/api/v1/campaigns/",
     {**CAMPAIGN, "consent_text": ODD}, "consent_text", "text"),
    ("campaign target", "researcher", "post", "/api/v1/campaigns/",
     {**CAMPAIGN, "targets": [{"audience": ODD, "overlap_k": 1}]}, "targets.0.audience", "text"),
    ("campaign overlap", "researcher", "post", "/api/v1/campaigns/",
     {**CAMPAIGN, "targets": [{"audience": "everyone", "overlap_k": ODD}]},
     "targets.0.overlap_k", "number"),
    ("campaign rating scale", "researcher", "post", "/api/v1/campaigns/",
     {**CAMPAIGN, "rating_min": 1, "rating_max": ODD}, "rating_max", "number"),
    ("campaign instructions", "researcher", "patch", "/api/v1/campaigns/main/",
     {"instructions": ODD}, "instructions", "text"),
    ("campaign status", "researcher", "post", "/api/v1/campaigns/main/status/",
     {"status": ODD}, "status", "text"),
    ("choice", "annotator", "post", "submit", {**SUBMIT, "payload": {"choice": ODD}},
     "payload.choice", "text"),
    ("rationale", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a", "confidence": 3, "rationale": ODD}},
     "payload.rationale", "text"),
    ("payload key", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a", "confidence": 3, "rationale": "r", "x": {ODD: 1}}},
     "payload.x", "text"),
    ("confidence", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a", "rationale": "r", "confidence": ODD}},
     "payload.confidence", "number"),
    ("rating", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a", "rationale": "r", "confidence": 3,
                            "ratings": {"a": ODD, "b": 2}}},
     "payload.ratings.a", "number"),
    ("time on task", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a"}, "time_on_task_ms": ODD}, "time_on_task_ms", "number"),
    ("idempotency key", "annotator", "post", "submit",
     {**SUBMIT, "payload": {"choice": "a"}, "idempotency_key": ODD}, "idempotency_key", "text"),
    ("flag reason", "annotator", "post", "skip", {"flag_reason": ODD}, "flag_reason", "text"),
    ("withdrawal campaign", "annotator", "post", "/api/v1/withdrawals/", {"campaign": ODD},
     "campaign", "text"),
    ("export audiences", "researcher", "post", "/api/v1/campaigns/main/exports/",
     {"audiences": [ODD]}, "audiences.0", "text"),
    ("export options", "researcher", "post", "/api/v1/campaigns/main/exports/",
     {"options": {"note": ODD}}, "options.note", "text"),
]  # fmt: skip
CASES = [
    pytest.param(door, role, method, url, body, field, odd, id=f"{door}: {name}")
    for door, role, method, url, body, field, kind in JSON_DOORS
    for name, odd in (ODD_TEXT if kind == "text" else ODD_NUMBER).items()
    # "５" is a number's odd form only where the payload validator reads strings;
    # DRF's IntegerField reads it as 5, which is a valid count.
    if not (name == "full-width five" and door not in ("confidence", "rating"))
    and not (name == "deep nesting" and door == "payload key")  # a key is a string
]


@pytest.mark.parametrize(("door", "role", "method", "url", "body", "field", "odd"), CASES)
def test_odd_json_is_refused_naming_the_field_and_writing_nothing(
    world, door, role, method, url, body, field, odd
):
    if url in ("submit", "skip"):
        url = f"/api/v1/assignments/{world['assignment'].pk}/{url}/"
    before = stored()
    answer = getattr(api(world, role), method)(
        url, data=json_body(body, odd), content_type="application/json"
    )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.content[:300])
    assert names(reported_field(answer.json()), field), answer.json()
    assert stored() == before


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/audiences/?kind=%00", "kind"),
        ("/api/v1/campaigns/?status=%00", "status"),
        ("/api/v1/campaigns/?item_kind=a%00", "item_kind"),
        ("/api/v1/campaigns/main/items/?external_id=%00", "external_id"),
        ("/api/v1/responses/?campaign=%00", "campaign"),
        ("/api/v1/alerts/?audience=x%00", "audience"),
        ("/api/v1/tokens/?page=%00", "page"),
    ],
)
def test_nul_in_a_filter_is_refused_naming_the_parameter(world, url, parameter):
    answer = api(world, "researcher").get(url)
    assert answer.status_code == 400, answer.content[:300]
    assert answer.json()["field"] == parameter


def test_nul_in_an_admin_search_is_refused(world, client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/collection/item/?q=%00").status_code == 400


# Numbers in the response validator --------------------------------------------------


@pytest.mark.parametrize("odd", ["²", "５", "1" * 5_000, "3.0", " ", "-"])
def test_a_confidence_that_is_not_plain_digits_is_refused(odd):
    with pytest.raises(payloads.PayloadError) as caught:
        payloads.validate_response(
            kind="preference",
            payload={"choice": "a", "confidence": odd},
            item_payload={"candidates": [{"id": "a"}, {"id": "b"}]},
        )
    assert caught.value.field == "confidence"


def test_a_confidence_in_plain_digits_is_read_as_its_number():
    clean = payloads.validate_response(
        kind="preference",
        payload={"choice": "a", "confidence": " 4"},
        item_payload={"candidates": [{"id": "a"}, {"id": "b"}]},
    )
    assert clean["confidence"] == 4


# Web forms ---------------------------------------------------------------------------

WEB_ANSWER = {"choice": "a", "rationale": "fine", "confidence": "3"}
# (field posted, odd value, the label the page must name)
WEB_FIELDS = [
    ("rationale", "a\x00b", "Why? (briefly)"),
    ("confidence", "²", "How confident are you?"),
    ("confidence", "1" * 5_000, "How confident are you?"),
    ("rating_0", "²", "Rating of response"),
    ("rating_1", "1" * 5_000, "Rating of response"),
    ("time_on_task_ms", "1" * 5_000, "Time on task"),
    ("time_on_task_ms", "²", "Time on task"),
    ("idempotency_key", "a\x00b", "Form key"),
]


@pytest.mark.parametrize(("name", "odd", "label"), WEB_FIELDS)
def test_odd_web_answer_is_refused_naming_the_field(world, client, name, odd, label):
    client.force_login(world["annotator"])
    before = stored()
    data = {
        "assignment": world["assignment"].pk,
        "idempotency_key": str(uuid.uuid4()),
        "time_on_task_ms": "900",
        **WEB_ANSWER,
        name: odd,
    }
    page = client.post(reverse("submit", args=["main"]), data)
    assert page.status_code == 400
    assert label in page.content.decode()
    assert stored() == before


def test_nul_in_a_flag_reason_is_refused_naming_the_field(world, client):
    client.force_login(world["annotator"])
    before = stored()
    page = client.post(
        reverse("skip", args=["main"]),
        {"assignment": world["assignment"].pk, "action": "flag", "flag_reason": "bad\x00"},
    )
    assert page.status_code == 400 and "Null characters are not allowed" in page.content.decode()
    assert stored() == before
    assert Assignment.objects.get(pk=world["assignment"].pk).status == Assignment.Status.LEASED


def test_nul_in_a_profile_answer_is_refused(world, client):
    client.force_login(world["annotator"])
    before = stored()
    page = client.post(reverse("profile", args=["everyone"]), {"age": "old\x00"})
    assert page.status_code == 400 and "Age" in page.content.decode()
    assert stored() == before


def test_nul_in_a_web_token_name_is_refused_and_creates_no_token(world, client):
    client.force_login(world["researcher"])
    page = client.post(reverse("api_tokens"), {"name": "laptop\x00"}, follow=True)
    assert page.status_code == 200
    assert "NUL" in page.content.decode()
    assert not ApiToken.objects.exists()


def test_nul_in_a_signup_is_refused(client):
    page = client.post(
        reverse("signup"),
        {"username": "a\x00b", "email": "a@example.org", "password1": "x", "password2": "x"},
    )
    assert page.status_code == 400 and "Null characters are not allowed" in page.content.decode()


def test_nul_in_a_web_page_query_string_is_refused(world, client):
    client.force_login(world["annotator"])
    assert client.get("/submissions/?page=%00").status_code == 400


# Imports -----------------------------------------------------------------------------


def jsonl_line(row: dict, odd: str) -> bytes:
    return json_body(row, odd) + b"\n"


GOOD = {"external_id": "ok", "prompt": "Q", "payload": {"candidates": ["A", "B"]}}
PAIR = {"prompt": "Q", "payload": {"candidates": ["A", "B"]}}
HH_GOOD = {
    "chosen": "\n\nHuman: Hi\n\nAssistant: Hello",
    "rejected": "\n\nHuman: Hi\n\nAssistant: Go",
}
PAIRS_GOOD = {"prompt": "Q", "chosen": "A", "rejected": "B"}
# (format, the bad line's row with ODD in it, the field it must name)
IMPORT_ROWS = [
    ("jsonl", {**PAIR, "prompt": ODD}, "prompt"),
    ("jsonl", {**PAIR, "external_id": ODD}, "external_id"),
    ("jsonl", {**PAIR, "payload": {"candidates": [{"text": ODD}, "B"]}},
     "payload.candidates.0.text"),
    ("jsonl", {**PAIR, "payload": {"candidates": ["A", {"id": ODD, "text": "B"}]}},
     "payload.candidates.1.id"),
    ("jsonl", {**PAIR, "context": {"messages": [{"role": "user", "content": ODD}]}},
     "context.messages.0.content"),
    ("jsonl", {**PAIR, "expected": {"choice": ODD}}, "expected.choice"),
    ("hh-rlhf", {**HH_GOOD, "chosen": ODD}, "chosen"),
    ("hh-rlhf", {**HH_GOOD, "id": ODD}, "id"),
    ("pairs", {**PAIRS_GOOD, "prompt": ODD}, "prompt"),
    ("pairs", {**PAIRS_GOOD, "chosen": ODD}, "chosen"),
    ("pairs", {**PAIRS_GOOD, "chosen": [{"role": "assistant", "content": ODD}],
               "rejected": [{"role": "assistant", "content": "B"}]}, "chosen.0.content"),
    ("pairs", {**PAIRS_GOOD, "id": ODD}, "id"),
]  # fmt: skip
GOOD_LINES = {"hh-rlhf": HH_GOOD, "pairs": PAIRS_GOOD}
IMPORT_CASES = [
    pytest.param(file_format, row, field, odd, id=f"{file_format} {field}: {name}")
    for file_format, row, field in IMPORT_ROWS
    for name, odd in ODD_TEXT.items()
]


def upload(world, content: bytes, file_format: str):
    stream = io.BytesIO(content)
    stream.name = f"items.{'csv' if file_format == 'csv' else 'jsonl'}"
    return api(world, "researcher").post(
        "/api/v1/campaigns/main/items/import/",
        {"file": stream, "format": file_format},
        format="multipart",
    )


def refused_import(world, content: bytes, file_format: str) -> dict:
    before = (stored(), Slot.objects.count())
    answer = upload(world, content, file_format)
    assert answer.status_code == 400, answer.content[:300]
    assert (stored(), Slot.objects.count()) == before
    return answer.json()


@pytest.mark.parametrize(("file_format", "row", "field", "odd"), IMPORT_CASES)
def test_odd_import_line_is_refused_naming_line_and_field(world, file_format, row, field, odd):
    good = json.dumps(GOOD_LINES.get(file_format, GOOD)).encode() + b"\n"
    body = refused_import(world, good + jsonl_line(row, odd), file_format)
    assert body["line"] == 2
    assert names(body["field"], field), body
    assert "Line 2" in body["detail"]


@pytest.mark.parametrize(("file_format", "row", "field", "odd"), IMPORT_CASES)
def test_odd_gzipped_line_is_refused_naming_line_and_field(world, file_format, row, field, odd):
    good = json.dumps(GOOD_LINES.get(file_format, GOOD)).encode() + b"\n"
    content = gzip.compress(good + jsonl_line(row, odd))
    body = refused_import(world, content, "auto")
    assert body["line"] == 2
    assert names(body["field"], field), body


@pytest.mark.parametrize(("file_format", "row", "field", "odd"), IMPORT_CASES)
def test_a_keep_valid_import_lists_an_odd_line_and_keeps_the_good_one(
    world, file_format, row, field, odd
):
    good = json.dumps(GOOD_LINES.get(file_format, GOOD)).encode() + b"\n"
    stream = io.BytesIO(good + jsonl_line(row, odd))
    before = Item.objects.count()
    answer = api(world, "researcher").post(
        "/api/v1/campaigns/main/items/import/",
        {"file": stream, "format": file_format, "mode": "keep_valid"},
        format="multipart",
    )
    assert answer.status_code == 201, answer.content[:300]
    body = answer.json()
    assert (body["created"], body["rejected_count"]) == (1, 1)
    assert body["rejected"][0]["line"] == 2 and names(body["rejected"][0]["field"], field), body
    assert Item.objects.count() == before + 1


def test_a_5000_digit_external_id_is_refused_naming_line_and_field(world):
    body = refused_import(world, jsonl_line({**PAIR, "external_id": ODD}, "9" * 5_000), "jsonl")
    assert (body["line"], body["field"]) == (1, "external_id")


CSV_HEADER = b"external_id,prompt,candidate_a,candidate_b,context_messages,expected\r\n"
CSV_GOOD = b"ok,Q,A,B,,\r\n"
# (the bad record, the field it must name)
CSV_ROWS = [
    (b"x,Q\x00,A,B,,\r\n", "prompt"),
    (b"x,Q,A\xed\xa0\x80,B,,\r\n", "payload.candidates.0.text"),
    (b"x\x00,Q,A,B,,\r\n", "external_id"),
    (b'x,Q,A,B,"' + DEEP.encode() + b'",\r\n', "context_messages"),
    (b'x,Q,A,B,"[{""role"": ""user"", ""content"": ""\\u0000""}]",\r\n',
     "context_messages.0.content"),
    (b'x,Q,A,B,,"{""choice"": ""\\ud800""}"\r\n', "expected.choice"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "field"), CSV_ROWS)
def test_odd_csv_cell_is_refused_naming_line_and_field(world, record, field):
    body = refused_import(world, CSV_HEADER + CSV_GOOD + record, "csv")
    assert body["line"] == 3
    assert names(body["field"], field), body


def test_odd_csv_header_is_refused_naming_the_line(world):
    body = refused_import(world, b"prompt,candidate_a\xed\xa0\x80\r\nQ,A\r\n", "csv")
    assert body["line"] == 1 and body["field"] == "candidate_a\\ud800"


# The rating scale (issue #10, item 5) ----------------------------------------------------


def test_a_rating_scale_of_more_than_11_points_is_refused_by_the_api(world):
    client = api(world, "researcher")
    answer = client.post(
        "/api/v1/campaigns/",
        {**CAMPAIGN, "preference_format": "rating", "rating_min": -32768, "rating_max": 32767},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "rating_max" and "11 points" in answer.json()["detail"]
    assert not Campaign.objects.filter(slug="new").exists()
    patch = client.patch("/api/v1/campaigns/main/", {"rating_max": 12}, format="json")
    assert patch.status_code == 400 and "11 points" in patch.json()["detail"]
    assert Campaign.objects.get(slug="main").rating_max == 5


def test_an_11_point_scale_is_accepted(world):
    answer = api(world, "researcher").post(
        "/api/v1/campaigns/",
        {**CAMPAIGN, "preference_format": "rating", "rating_min": 0, "rating_max": 10},
        format="json",
    )
    assert answer.status_code == 201, answer.json()


def test_the_admin_refuses_a_long_rating_scale_with_a_message(world, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/collection/campaign/add/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(
        {
            "slug": "wide",
            "name": "Wide",
            "item_kind": "preference",
            "competence": "behaviour",
            "preference_format": "rating",
            "rating_min": "1",
            "rating_max": "100",
            "owners": [],
            "targets-TOTAL_FORMS": "0",
            "targets-INITIAL_FORMS": "0",
        }
    )
    data = {key: value for key, value in data.items() if value is not None}
    page = client.post("/admin/collection/campaign/add/", data)
    assert page.status_code == 200
    assert "at most 11 points" in page.content.decode()
    assert not Campaign.objects.filter(slug="wide").exists()


def test_the_database_refuses_a_long_rating_scale():
    from django.db import IntegrityError, transaction

    campaign = make_campaign(audiences={}, items=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(rating_min=-32768, rating_max=32767)


@pytest.mark.parametrize("odd", [DEEP, "1" * 5_000], ids=["deep nesting", "5,000 digits"])
def test_the_admin_json_boxes_refuse_odd_json_with_a_message(world, client, odd):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    item = world["campaign"].items.first()
    url = f"/admin/collection/item/{item.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {key: "" if value is None else value for key, value in data.items()}
    data["payload"] = odd
    before = stored()
    page = client.post(url, data)
    assert page.status_code == 200
    assert "levels deep" in page.content.decode() or "too large" in page.content.decode()
    assert stored() == before
