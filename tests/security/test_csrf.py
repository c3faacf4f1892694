"""Every state-changing door refuses a POST without the CSRF token from a signed-in
browser, and the refusal changes nothing: pages and the API's session door alike."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.probe import patterns, real_values, send
from tests.security.test_no_500 import changed, owned_rows

pytestmark = pytest.mark.django_db

PATTERNS = patterns()
# Views that answer only GET (and say 405 to a POST) need no token.
GET_ONLY = 405


def test_no_post_without_the_csrf_token_is_taken_or_changes_anything(world):
    findings = []
    for role in ("owner", "annotator", "anonymous"):
        browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
        if world["users"][role] is not None:
            browser.force_login(world["users"][role])
        before = owned_rows(set())
        for pattern in PATTERNS:
            url = pattern.url(real_values(pattern, world))
            status, _, _ = send(browser, "POST", url, {"name": "csrf"}, "")
            refused = (
                (403, GET_ONLY, 401) if role == "anonymous" and pattern.is_api else (403, GET_ONLY)
            )
            if status not in refused:
                findings.append(f"{role} POST {url} -> {status}")
        findings += [f"{role}: {why}" for why in changed(before, owned_rows(set()))]
    assert not findings, "\n".join(findings)
