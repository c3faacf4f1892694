"""The probe itself can fail: it reports a server error, an API refusal outside the one
error shape and free text rendered unescaped, and it walks every pattern."""

from __future__ import annotations

from tests.security.conftest import MARK, PRIVATE
from tests.security.probe import Pattern, patterns, problems

API = Pattern("api/v1/items/<int:item_id>/", "api-item", {"item_id": "int"})
PAGE = Pattern("submissions/", "submissions")


def test_the_probe_reports_what_it_is_for():
    assert problems(API, 500, b"Server Error", "text/html")
    assert problems(API, 400, b'{"name": ["bad"]}', "application/json")
    assert not problems(API, 400, b'{"detail": "Bad.", "code": "invalid"}', "application/json")
    assert problems(PAGE, 200, f"<p>{MARK}</p>".encode(), "text/html")
    assert not problems(PAGE, 200, b"<p>&lt;script&gt;probe(1)&lt;/script&gt;</p>", "text/html")
    assert problems(PAGE, 200, b"key sk-123", "text/html", secrets=("sk-123",))
    private = f"<p>{PRIVATE[0]}</p>".encode()
    assert problems(PAGE, 200, private, "text/html", private=True)
    assert not problems(PAGE, 200, private, "text/html", private=False)


def test_the_probe_walks_every_door_of_the_site():
    routes = {pattern.route for pattern in patterns()}
    for route in ("api/v1/endpoints/<int:endpoint_id>/test/", "panel/<str:token>/", "workbench/"):
        assert route in routes
    assert not any(route.startswith("admin/") for route in routes)
