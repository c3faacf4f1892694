"""The outside round's probe, kept: every URL pattern (walked from the resolvers) and
every operation of the OpenAPI schema, as nobody, an annotator, another researcher, the
owner and an admin, GET and POST (and PUT, PATCH, DELETE on the API) with odd bodies,
odd query strings and odd path arguments. No reply is a server error, every API refusal
has the one error shape, free text is escaped, and nobody changes what is not theirs."""

from __future__ import annotations

import pytest
from django.db.models import Model

from aggregation.models import ExportJob, Release
from collection.models import (
    ApiToken,
    Audience,
    Campaign,
    CampaignAudience,
    Conversation,
    Invitation,
    Item,
    Membership,
    Response,
    Turn,
)
from endpoints.models import ModelEndpoint
from panels.models import PanelEntrant, PanelStudy
from tests.security.probe import (
    ODD_FORM,
    ODD_JSON,
    ODD_PATH,
    ODD_QUERY,
    RAW_FORM,
    Finding,
    Pattern,
    client_for,
    patterns,
    problems,
    real_values,
    send,
)

pytestmark = pytest.mark.django_db

PATTERNS = patterns()
# Rows that belong to the owner (or, for responses and conversations, to the annotator):
# nobody else's request may change or delete one. Fields that count use, not content,
# are left out.
OWNED: dict[type[Model], tuple[str, ...]] = {
    Campaign: (),
    CampaignAudience: (),
    Audience: (),
    Item: (),
    Invitation: ("uses",),
    ModelEndpoint: (),
    PanelStudy: (),
    ExportJob: (),
    Release: (),
    ApiToken: ("last_used_at",),
    Response: (),
    Conversation: (),
    Turn: (),
    Membership: (),
    PanelEntrant: (),
}
# The annotator's own rows, which the annotator may change through the pages.
THEIRS = {Response, Conversation, Turn, Membership}


def owned_rows(skip: set) -> dict:
    return {
        model.__name__: {
            row["id"]: {k: v for k, v in row.items() if k not in ignored}
            for row in model.objects.values()
        }
        for model, ignored in OWNED.items()
        if model not in skip
    }


def changed(before: dict, after: dict) -> list[str]:
    return [
        f"{table} {pk} {'deleted' if pk not in after[table] else 'changed'}"
        for table, rows in before.items()
        for pk, row in rows.items()
        if after[table].get(pk) != row
    ]


# The owner meets every odd body; the others a sample that reaches their own checks
# (the whole set for five roles took ~25 s a pattern on a loaded 2-core machine).
SAMPLE = {"null", "array", "nul", "wrong types", "nulls", "huge ints", "echo"}
BODIES = {
    "owner": (set(ODD_JSON), set(ODD_FORM)),
    "staff": (SAMPLE, {"nul", "lists", "echo"}),
    "other": (SAMPLE, {"nul", "lists", "echo"}),
    "annotator": (SAMPLE, {"nul", "lists", "echo", "huge ints", "long"}),
    "anonymous": ({"null", "wrong types"}, {"nul"}),
}


def probe(world, pattern: Pattern, role: str, url: str, *, bodies: bool = True) -> list[Finding]:
    client = client_for(world["users"][role])
    findings = []
    requests = [("GET", url, None, ""), ("GET", f"{url}?{ODD_QUERY}", None, "")]
    json_bodies, form_bodies = BODIES[role]
    if bodies:
        if pattern.is_api:
            for method in sorted({"POST", "PUT", "PATCH", "DELETE"} - set(pattern.writes)):
                requests.append((method, url, ODD_JSON["nulls"], "json nulls"))
        for method in pattern.writes:
            for label in sorted(json_bodies):
                requests.append((method, url, ODD_JSON[label], f"json {label}"))
            if not pattern.is_api and method == "POST":
                for label in sorted(form_bodies):
                    requests.append((method, url, ODD_FORM[label], f"form {label}"))
                requests.append((method, url, RAW_FORM, "form invalid utf-8"))
    for method, target, body, label in requests:
        content_type = (
            "application/x-www-form-urlencoded" if label.startswith("form") else "application/json"
        )
        status, content, kind = send(client, method, target, body, content_type)
        private = role in ("anonymous", "other")
        for why in problems(
            pattern, status, content, kind, secrets=world["secrets"], private=private
        ):
            findings.append(Finding(role, method, target, label, status, why))
    return findings


DOORS = sorted({pattern.door for pattern in PATTERNS})


@pytest.mark.parametrize("door", DOORS)
def test_no_door_answers_a_server_error_or_shows_or_changes_what_is_not_yours(world, door):
    findings: list[Finding] = []
    for pattern in (p for p in PATTERNS if p.door == door):
        findings += probe_pattern(world, pattern)
    assert not findings, "\n".join(str(f) for f in findings[:40])


def probe_pattern(world, pattern: Pattern) -> list[Finding]:
    values = real_values(pattern, world)
    url = pattern.url(values)
    findings: list[Finding] = []
    for role in ("anonymous", "other", "annotator"):
        skip = THEIRS if role == "annotator" else set()
        before = owned_rows(skip)
        findings += probe(world, pattern, role, url)
        findings += [
            Finding(role, "*", url, "", 0, why) for why in changed(before, owned_rows(skip))
        ]
    for role in ("owner", "staff"):
        findings += probe(world, pattern, role, url)
    for kwarg, converter in pattern.converters.items():
        for odd in ODD_PATH.get(converter, ()):
            odd_url = pattern.url({**values, kwarg: odd})
            for role in ("anonymous", "owner"):
                findings += probe(world, pattern, role, odd_url, bodies=False)
    return findings


def test_every_operation_of_the_schema_is_a_pattern_the_probe_walks(client, world):
    client.force_login(world["owner"])
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    import re

    routes = {re.sub(r"<\w+:(\w+)>", r"{\1}", "/" + p.route) for p in PATTERNS}
    operations = schema.json()["paths"]
    assert operations, "the schema lists no operation"
    missing = sorted(path for path in operations if path not in routes)
    assert not missing, missing
