"""What the server may be made to call: only the address a researcher registered, never a
link-local or cloud-metadata address, never credentials in the address, and never where
an endpoint redirects to (the test-connection action included)."""

from __future__ import annotations

import http.server
import threading

import pytest

from endpoints.models import ModelEndpoint
from tests.helpers import make_endpoint

pytestmark = pytest.mark.django_db


class Recorder(http.server.ThreadingHTTPServer):
    """A server that answers every request with ``status`` (and ``location``), and keeps
    the paths it was asked for."""

    def __init__(self, status: int = 200, location: str = ""):
        self.status, self.location, self.paths = status, location, []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                recorder.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(recorder.status)
                if recorder.location:
                    self.send_header("Location", recorder.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/v1",
        "http://[fe80::1]/v1",
        "http://[fd00:ec2::254]/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://0.0.0.0:8000/v1",
        "http://user:secret@127.0.0.1:8001/v1",
    ],
)
def test_an_address_the_server_must_not_call_is_refused_naming_base_url(api, base_url):
    payload = {"name": "m", "base_url": base_url, "model": "m"}
    response = api.post("/api/v1/endpoints/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "base_url"
    assert not ModelEndpoint.objects.exists()


def test_a_local_model_server_may_be_registered(api, standin):
    # Local servers (vLLM, Ollama, llama.cpp on this machine or the private network)
    # are the usual endpoints, so loopback and private addresses stay allowed.
    payload = {"name": "local", "base_url": standin.base_url, "model": "m"}
    assert api.post("/api/v1/endpoints/", payload, format="json").status_code == 201
    payload = {"name": "lan", "base_url": "http://10.0.0.5:8000/v1", "model": "m"}
    assert api.post("/api/v1/endpoints/", payload, format="json").status_code == 201


def test_the_connection_test_does_not_follow_a_redirect(researcher, api, client):
    with Recorder() as inside, Recorder(307) as outside:
        outside.location = f"{inside.base_url}/chat/completions"
        endpoint = ModelEndpoint.objects.create(
            owner=researcher, name="redirects", base_url=outside.base_url, model="m"
        )
        answer = api.post(f"/api/v1/endpoints/{endpoint.pk}/test/").json()
        client.force_login(researcher)
        page = client.post(f"/endpoints/{endpoint.pk}/test/", follow=True)
        assert page.status_code == 200
    assert answer["ok"] is False
    assert "redirect" in answer["message"]
    assert len(outside.paths) == 2  # the API's test and the page's
    assert inside.paths == []  # nothing reached the address it redirected to


def test_an_old_row_with_a_metadata_address_is_never_called(researcher, api):
    endpoint = ModelEndpoint.objects.create(
        owner=researcher, name="old", base_url="http://169.254.169.254/v1", model="m"
    )
    answer = api.post(f"/api/v1/endpoints/{endpoint.pk}/test/").json()
    assert answer["ok"] is False
    assert "link-local" in answer["message"]


def test_the_admin_refuses_a_metadata_address(researcher, client, standin):
    from tests.factories import UserFactory

    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    endpoint = make_endpoint(researcher, standin, "kept")
    response = client.post(
        f"/admin/endpoints/modelendpoint/{endpoint.pk}/change/",
        {
            "owner": researcher.pk,
            "name": "kept",
            "base_url": "http://169.254.169.254/v1",
            "model": "m",
            "timeout_seconds": "5",
            "max_concurrency": "4",
        },
    )
    assert response.status_code == 200
    assert b"link-local" in response.content
    endpoint.refresh_from_db()
    assert endpoint.base_url == standin.base_url


def test_a_server_that_answers_200_with_no_completion_is_a_bad_answer_not_a_crash(
    researcher, api, client
):
    with Recorder(200) as empty:
        endpoint = ModelEndpoint.objects.create(
            owner=researcher, name="empty", base_url=empty.base_url, model="m"
        )
        answer = api.post(f"/api/v1/endpoints/{endpoint.pk}/test/")
        client.force_login(researcher)
        page = client.post(f"/endpoints/{endpoint.pk}/test/", follow=True)
    assert answer.status_code == 200, answer.content[:300]
    assert answer.json()["ok"] is False
    assert "Bad answer" in answer.json()["message"]
    assert page.status_code == 200
