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
    ROLES,
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


# Who meets which odd input. Every odd body is sent once to every write method of
# every pattern, by a role taken in turn from CYCLE (the owner twice, as the role that
# gets past the permission checks into validation; staff, an admin, likewise), the
# turn moving on per pattern, method and body, so within a door each body meets the
# owner and the refused roles alike. The large bodies (HEAVY: 1,000,000 chars, 5,000
# deep, a 5,000-digit number) are refused by the shared request parsers whatever the
# view, so they go once per door, to the owner and to the annotator (who owns the
# annotation pages). A page gets one JSON body (see plan). Every role still GETs
# every pattern, so every reply is checked for secrets, private words and
# unescaped text per role; the odd query string goes to the owner and one other
# role in turn; odd path arguments to the owner and nobody. (The full cross
# product took ~150 s at load 2-5; see the commit.)
CYCLE = ("owner", "other", "staff", "annotator", "owner", "anonymous")
HEAVY_JSON = ("deep", "huge number", "long")
HEAVY_FORM = ("long",)
LIGHT_JSON = tuple(sorted(set(ODD_JSON) - set(HEAVY_JSON)))
LIGHT_FORM = tuple(sorted(set(ODD_FORM) - set(HEAVY_FORM)))
REFUSED = ("anonymous", "other", "annotator")


def plan(pattern: Pattern, url: str, turn: int, *, heavy: bool) -> list[tuple]:
    """The (role, method, url, body, label) requests for one pattern."""
    requests = [(role, "GET", url, None, "") for role in ROLES]
    requests.append(("owner", "GET", f"{url}?{ODD_QUERY}", None, "query"))
    requests.append((REFUSED[turn % 3], "GET", f"{url}?{ODD_QUERY}", None, "query"))
    if pattern.is_api:
        for method in sorted({"POST", "PUT", "PATCH", "DELETE"} - set(pattern.writes)):
            requests.append(("owner", method, url, ODD_JSON["nulls"], "json nulls"))
    for j, method in enumerate(pattern.writes):
        # A page reads only form bodies (no view outside the API reads request.body:
        # `grep -rn request.body --include=*.py` finds collection/api_input.py alone),
        # so every JSON body is one unparsed body to it: one in turn is enough.
        json_labels = LIGHT_JSON if pattern.is_api else (LIGHT_JSON[turn % len(LIGHT_JSON)],)
        for k, label in enumerate(json_labels):
            role = CYCLE[(turn + j + k) % len(CYCLE)]
            requests.append((role, method, url, ODD_JSON[label], f"json {label}"))
        if heavy and j == 0:
            for role in ("owner", "annotator"):
                for label in HEAVY_JSON:
                    requests.append((role, method, url, ODD_JSON[label], f"json {label}"))
        if not pattern.is_api and method == "POST":
            for k, label in enumerate(LIGHT_FORM):
                role = CYCLE[(turn + k) % len(CYCLE)]
                requests.append((role, method, url, ODD_FORM[label], f"form {label}"))
            role = CYCLE[(turn + len(LIGHT_FORM)) % len(CYCLE)]
            requests.append((role, method, url, RAW_FORM, "form invalid utf-8"))
            if heavy:
                for role in ("owner", "annotator"):
                    for label in HEAVY_FORM:
                        requests.append((role, method, url, ODD_FORM[label], f"form {label}"))
    return requests


def run(world, pattern: Pattern, clients: dict, requests: list[tuple]) -> list[Finding]:
    findings = []
    for role, method, target, body, label in requests:
        content_type = (
            "application/x-www-form-urlencoded" if label.startswith("form") else "application/json"
        )
        status, content, kind = send(clients[role], method, target, body, content_type)
        private = role in ("anonymous", "other")
        for why in problems(
            pattern, status, content, kind, secrets=world["secrets"], private=private
        ):
            findings.append(Finding(role, method, target, label, status, why))
    return findings


DOORS = sorted({pattern.door for pattern in PATTERNS})


@pytest.mark.parametrize("door", DOORS)
def test_no_door_answers_a_server_error_or_shows_or_changes_what_is_not_yours(world, door):
    clients = {role: client_for(user) for role, user in world["users"].items()}
    findings: list[Finding] = []
    heavy = True
    for pattern in (p for p in PATTERNS if p.door == door):
        findings += probe_pattern(world, pattern, clients, PATTERNS.index(pattern), heavy)
        heavy = heavy and not pattern.writes
    assert not findings, "\n".join(str(f) for f in findings[:40])


def probe_pattern(world, pattern: Pattern, clients: dict, turn: int, heavy: bool):
    values = real_values(pattern, world)
    url = pattern.url(values)
    requests = plan(pattern, url, turn, heavy=heavy)
    findings: list[Finding] = []
    for role in REFUSED:
        skip = THEIRS if role == "annotator" else set()
        before = owned_rows(skip)
        findings += run(world, pattern, clients, [r for r in requests if r[0] == role])
        findings += [
            Finding(role, "*", url, "", 0, why) for why in changed(before, owned_rows(skip))
        ]
    findings += run(world, pattern, clients, [r for r in requests if r[0] not in REFUSED])
    for kwarg, converter in pattern.converters.items():
        for odd in ODD_PATH.get(converter, ()):
            odd_url = pattern.url({**values, kwarg: odd})
            odd_gets = [(role, "GET", odd_url, None, "") for role in ("anonymous", "owner")]
            findings += run(world, pattern, clients, odd_gets)
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
