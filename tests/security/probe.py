"""The probe's parts: every URL pattern with its arguments filled from the world, the odd
inputs, one request that never lets a server error escape, and what a reply may show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.conftest import MARK, PRIVATE

ROLES = ("anonymous", "annotator", "other", "owner", "staff")
ECHO = "<img src=x onerror=echo(1)>"
HUGE_INT = "99999999999999999999"
DEEP = "[" * 5_000 + "]" * 5_000
LONG = "x" * 1_000_000

# Fields the pages and the API take, each set to an odd value at once: the probe does
# not need to know which operation takes which.
FIELDS = (
    "name",
    "slug",
    "kind",
    "audience_kind",
    "item_kind",
    "prompt",
    "payload",
    "items",
    "audiences",
    "audience",
    "campaign",
    "overlap_k",
    "status",
    "text",
    "choice",
    "ranking",
    "ratings",
    "rationale",
    "confidence",
    "assignment",
    "assignment_id",
    "idempotency_key",
    "time_on_task_ms",
    "base_url",
    "model",
    "api_key",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "timeout_seconds",
    "max_concurrency",
    "message",
    "judgement",
    "edit",
    "token",
    "rating",
    "endpoint_ids",
    "endpoints",
    "places",
    "quota_cells",
    "panel",
    "external_id",
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
    "workerId",
    "assignmentId",
    "hitId",
    "pid",
    "agree",
    "reason",
    "note",
    "max_uses",
    "attributes",
    "kinds",
    "formats",
    "options",
    "file",
    "file_format",
    "keep_valid",
    "page",
    "page_size",
    "target",
    "targets",
    "attribute_schema",
    "target_marginals",
    "instructions",
    "rubric",
    "rating_min",
    "rating_max",
    "username",
    "password",
    "password1",
    "password2",
    "email",
    "age_band",
    "conversation",
    "retry",
    "samples",
    "item_ids",
    "endpoint",
    "action",
    "decision",
)

ODD_JSON: dict[str, bytes] = {
    "null": b"null",
    "array": b"[1, 2]",
    "string": b'"x"',
    "infinity": b"1e999",
    "huge number": b"1" * 5_000,
    "deep": DEEP.encode(),
    "invalid utf-8": b'{"name": "\xff\xfe"}',
    "nul": json.dumps({name: "a\u0000b" for name in FIELDS}).encode(),
    "lone surrogate": json.dumps({name: "a\ud800b" for name in FIELDS}).encode(),
    "wrong types": json.dumps({name: [{"x": None}] for name in FIELDS}).encode(),
    "nulls": json.dumps({name: None for name in FIELDS}).encode(),
    "huge ints": json.dumps({name: 10**30 for name in FIELDS}).encode(),
    "negative ints": json.dumps({name: -1 for name in FIELDS}).encode(),
    "rtl and zero-width": json.dumps({name: "\u202e\u200bx\u2066" for name in FIELDS}).encode(),
    "echo": json.dumps({name: ECHO for name in FIELDS}).encode(),
    "long": json.dumps({"name": LONG, "message": LONG, "prompt": LONG}).encode(),
}
ODD_FORM: dict[str, dict] = {
    "nul": {name: "a\x00b" for name in FIELDS},
    "rtl and zero-width": {name: "\u202e\u200bx" for name in FIELDS},
    "lists": {name: ["1", "2"] for name in FIELDS},
    "huge ints": {name: HUGE_INT for name in FIELDS},
    "negative": {name: "-1" for name in FIELDS},
    "echo": {name: ECHO for name in FIELDS},
    "long": {"name": LONG[:300_000], "message": LONG[:300_000], "text": LONG[:300_000]},
}
RAW_FORM = b"name=%FF%FE&message=%ED%A0%80&text=\xff"
ODD_QUERY = (
    f"page=-1&page_size={HUGE_INT}&limit=abc&offset=-5&cursor=%00&ordering=%00"
    f"&status=%FF&campaign=%00&audience={HUGE_INT}&q={ECHO}&since=notadate&kind=%ED%A0%80"
    "&PROLIFIC_PID=%00&pid=%E2%80%AE&format=%00&next=//evil.example"
)
ODD_PATH = {
    "int": ("0", HUGE_INT),
    "slug": ("s" * 300, "-"),
    "str": ("%00", "a" * 5_000, "%E2%80%AE"),
    "path": ("../../../../etc/passwd", "%2e%2e/%2e%2e/settings.py", "README.md%00"),
}


@dataclass
class Pattern:
    route: str  # e.g. "api/v1/items/<int:item_id>/"
    name: str
    converters: dict[str, str] = field(default_factory=dict)
    view: object = None

    @property
    def door(self) -> str:
        """The group a test probes together: an API resource or a site section."""
        parts = self.route.split("/")
        return "/".join(parts[:3] if self.is_api else parts[:1]) or "home"

    @property
    def writes(self) -> tuple[str, ...]:
        """The methods beyond GET the view answers (an API class says; a page may be
        any); the probe sends its odd bodies with these and one body with the rest."""
        cls = getattr(self.view, "cls", None)
        if cls is None:
            return ("POST",)
        return tuple(m for m in ("POST", "PUT", "PATCH", "DELETE") if hasattr(cls, m.lower()))

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def url(self, values: dict[str, str]) -> str:
        url = self.route
        for kwarg, converter in self.converters.items():
            url = url.replace(f"<{converter}:{kwarg}>", values[kwarg])
        url = url.replace("<int:version>", values.get("version", "1"))
        return "/" + url


def patterns() -> list[Pattern]:
    """Every URL pattern of the site but the Django admin's (its own, tested upstream)."""
    import re

    found = []

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry, route)
            elif isinstance(entry, URLPattern) and not route.startswith("admin/"):
                converters = {k: c for c, k in re.findall(r"<(\w+):(\w+)>", route)}
                found.append(Pattern(route, entry.name or route, converters, entry.callback))

    walk(get_resolver())
    return found


def real_values(pattern: Pattern, world: dict) -> dict[str, str]:
    """The owner's own objects for a pattern's arguments."""
    chat = pattern.name.startswith(("conversation_", "api-conversation", "campaign_conversations"))
    campaign = world["chat"] if chat else world["campaign"]
    audience_page = "audiences/<slug:slug>" in pattern.route
    conversation = world["conversation"]
    item = world["campaign"].items.order_by("pk").first()
    response = world["annotator"].responses.order_by("pk").first()
    panel = pattern.name.startswith("panel_") and "study" not in pattern.name
    return {
        "slug": world["audience"].slug if audience_page else campaign.slug,
        "audience_slug": world["audience"].slug,
        "token": world["study"].token if panel else world["invitation"].token,
        "item_id": str(item.pk),
        "assignment_id": str(world["lease"].pk),
        "response_id": str(response.pk),
        "token_id": str(world["owner"].api_tokens.first().pk),
        "endpoint_id": str(world["endpoint"].pk),
        "job_id": str(world["job"].pk),
        "study_id": str(world["study"].pk),
        "conversation_id": str(conversation.pk),
        "invitation_id": str(world["invitation"].pk),
        "version": "1",
        "path": "README.md",
        "name": "progress" if pattern.name == "campaign_chart" else "probe",
    }


@dataclass
class Finding:
    who: str
    method: str
    url: str
    body: str
    status: int
    why: str

    def __str__(self) -> str:
        where = f"{self.who} {self.method} {self.url[:120]} [{self.body}]"
        return f"{where} -> {self.status}: {self.why}"


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def read(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def send(client: Client, method: str, url: str, body: bytes | dict | None, content_type: str):
    """One request in a savepoint, so a database error it causes cannot poison the
    probes after it; returns (status, content, content type)."""
    savepoint = transaction.savepoint()
    try:
        if isinstance(body, dict):
            response = getattr(client, method.lower())(url, body)
        elif body is None:
            response = client.generic(method, url)
        else:
            response = client.generic(method, url, body, content_type=content_type)
        content = read(response)
        status = response.status_code
        kind = response.get("Content-Type", "")
    except Exception as error:  # a streamed body that fails half-way
        status, content, kind = 599, repr(error).encode(), ""
    if status >= 500:
        transaction.savepoint_rollback(savepoint)
    else:
        transaction.savepoint_commit(savepoint)
    return status, content, kind


def problems(
    pattern: Pattern,
    status: int,
    content: bytes,
    kind: str,
    *,
    secrets: tuple[str, ...] = (),
    private: bool = False,
) -> list[str]:
    """What is wrong with one reply: a server error, an API refusal outside the one
    error shape, free text rendered unescaped, a secret shown, or (``private``: to
    someone who may not see them) the owner's or the annotator's private words."""
    found = [f"shows secret {s[:6]}..." for s in secrets if s and s.encode() in content]
    if private:
        found += [f"reveals {word!r}" for word in PRIVATE if word.encode() in content]
    if status >= 500:
        found.append(content.decode(errors="replace")[-300:])
        return found
    if pattern.is_api and 400 <= status < 500 and "json" in kind:
        body = json.loads(content)
        if not (
            isinstance(body, dict)
            and isinstance(body.get("detail"), str)
            and isinstance(body.get("code"), str)
            and isinstance(body.get("field", ""), str)
        ):
            found.append(f"not the error shape: {content[:200]!r}")
    if "html" in kind or "event-stream" in kind:
        text = content.decode(errors="replace")
        for raw in (MARK, ECHO):
            if raw in text:
                found.append(f"unescaped {raw!r}")
    return found
