"""Brute-force protection and deployment defaults (issue #10, items 8 and 11), each
through the real endpoint: login lockout (form and admin), API rate limits, bad-key
limits per address, sign-up limits, `check --deploy`, and the CSP header."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from collection.models import ApiToken
from collection.services import api_token_create
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def throttling(settings):
    """Protection on, with small limits so a test can reach them."""
    settings.PLURALIGN_THROTTLING = True
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": "1000/hour",
            "user": "1000/hour",
            "token_create": "3/hour",
            "token_failure": "10/hour",
            "signup": "3/hour",
        },
    }
    cache.clear()
    yield settings
    cache.clear()


def logged_in_as(client) -> str | None:
    return client.session.get("_auth_user_id")


def wrong_logins(client, url: str, username: str, count: int) -> list[int]:
    return [
        client.post(url, {"username": username, "password": f"wrong-{n}"}).status_code
        for n in range(count)
    ]


# Login lockout ---------------------------------------------------------------------


def test_the_right_password_does_not_log_in_during_a_lockout(client, throttling):
    user = UserFactory(username="grace")
    assert wrong_logins(client, "/login/", "grace", 4) == [200] * 4
    assert client.post("/login/", {"username": "grace", "password": "wrong"}).status_code == 429
    locked = client.post("/login/", {"username": "grace", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert logged_in_as(client) is None

    # After the cool-off, the right password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(hours=1))
    assert client.post("/login/", {"username": "grace", "password": PASSWORD}).status_code == 302
    assert logged_in_as(client) == str(user.pk)


def test_an_admin_reset_lifts_a_lockout(client, throttling):
    user = UserFactory(username="grace")
    wrong_logins(client, "/login/", "grace", 5)
    assert client.post("/login/", {"username": "grace", "password": PASSWORD}).status_code == 429
    call_command("axes_reset")
    assert client.post("/login/", {"username": "grace", "password": PASSWORD}).status_code == 302
    assert logged_in_as(client) == str(user.pk)


def test_the_admin_login_locks_out_too(client, throttling):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    wrong_logins(client, "/admin/login/", "boss", 5)
    locked = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert locked.status_code == 429
    assert logged_in_as(client) is None


def test_without_throttling_the_tests_log_in_freely(client):
    UserFactory(username="grace")
    wrong_logins(client, "/login/", "grace", 20)
    assert client.post("/login/", {"username": "grace", "password": PASSWORD}).status_code == 302


# API keys and rates ----------------------------------------------------------------


def test_unknown_api_keys_from_one_address_end_in_429_even_for_a_real_key(throttling):
    _, real_key = api_token_create(user=UserFactory(), name="real")
    api = APIClient()
    statuses = []
    for n in range(12):
        # A forged X-Forwarded-For does not make a new client: no proxy is trusted.
        api.credentials(
            HTTP_AUTHORIZATION=f"Token pa_guess_{n}", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        )
        statuses.append(api.get("/api/v1/me/").status_code)
    assert statuses == [401] * 10 + [429] * 2
    api.credentials(HTTP_AUTHORIZATION=f"Token {real_key}")
    refused = api.get("/api/v1/me/")
    assert refused.status_code == 429 and "Retry-After" in refused
    # Another address is not blocked.
    other = APIClient(REMOTE_ADDR="192.0.2.7")
    other.credentials(HTTP_AUTHORIZATION=f"Token {real_key}")
    assert other.get("/api/v1/me/").status_code == 200


def test_a_user_over_the_api_rate_gets_429(throttling):
    throttling.REST_FRAMEWORK = {
        **throttling.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**throttling.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
        | {"user": "5/minute"},
    }
    _, key = api_token_create(user=UserFactory(), name="busy")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert [api.get("/api/v1/me/").status_code for _ in range(7)] == [200] * 5 + [429] * 2


def test_token_creation_has_its_own_stricter_limit(client, throttling):
    user = UserFactory()
    api = APIClient()
    api.force_authenticate(user)
    made = [api.post("/api/v1/tokens/", {"name": f"k{n}"}).status_code for n in range(5)]
    assert made == [201, 201, 201, 429, 429]
    assert api.get("/api/v1/tokens/").status_code == 200  # listing is not creating
    client.force_login(user)
    page = client.post("/account/tokens/", {"name": "from the page"}, follow=True)
    assert "Too many new tokens" in page.content.decode()
    assert ApiToken.objects.filter(user=user).count() == 3


# Sign-up ---------------------------------------------------------------------------


def signup(client, n: int):
    return client.post(
        "/signup/",
        {
            "username": f"newcomer{n}",
            "email": f"newcomer{n}@example.org",
            "password1": "a-long-passphrase-2026",
            "password2": "a-long-passphrase-2026",
        },
    )


def test_sign_ups_from_one_address_are_limited(client, throttling):
    from django.test import Client

    statuses = []
    for n in range(5):
        fresh = Client()  # a new browser each time, same address
        statuses.append(signup(fresh, n).status_code)
    assert statuses == [302, 302, 302, 429, 429]
    assert get_user_model().objects.filter(username__startswith="newcomer").count() == 3
    elsewhere = Client(REMOTE_ADDR="192.0.2.8")
    assert signup(elsewhere, 99).status_code == 302


# Deployment ------------------------------------------------------------------------


def test_check_deploy_passes_with_debug_off_and_a_real_secret():
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "k" * 20 + "-a-real-secret-0123456789-abcdefghijklmnop",
        "DJANGO_ALLOWED_HOSTS": "pluralign.example.org",
        # Production also needs the key that encrypts model endpoints' API keys.
        "PLURALIGN_ENDPOINT_KEYS": Fernet.generate_key().decode(),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SECURE_COOKIES", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


def test_every_html_page_carries_a_content_security_policy(client):
    client.force_login(UserFactory())
    for url in ("/", "/login/", "/submissions/", "/account/tokens/", "/api/docs/"):
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, url
        assert "frame-ancestors 'none'" in policy, url


def test_swagger_ui_loads_its_assets_from_this_site(client):
    client.force_login(UserFactory())
    html = client.get("/api/docs/").content.decode()
    assert "cdn" not in html.lower() and "<style" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<script>" not in html  # the init script is a separate URL (?script)


def test_compose_refuses_to_start_without_a_real_secret():
    compose = ROOT / "docker" / "compose.yaml"
    assert "${DJANGO_SECRET_KEY:?" in compose.read_text()
    assert "${PLURALIGN_ENDPOINT_KEYS:?" in compose.read_text()
    assert "change-me" not in compose.read_text()
    tool = shutil.which("docker-compose")
    if tool is None:
        return  # Docker's own client is not on every machine; the text check stands
    secrets = ("DJANGO_SECRET_KEY", "PLURALIGN_ENDPOINT_KEYS")
    env = {key: value for key, value in os.environ.items() if key not in secrets}
    env["PLURALIGN_ENDPOINT_KEYS"] = "a-fernet-key"
    run = [tool, "-f", str(compose), "config", "--quiet"]
    refused = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "set DJANGO_SECRET_KEY" in refused.stderr
    env["DJANGO_SECRET_KEY"] = "a-real-secret"
    del env["PLURALIGN_ENDPOINT_KEYS"]
    refused = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "set PLURALIGN_ENDPOINT_KEYS" in refused.stderr
    env["PLURALIGN_ENDPOINT_KEYS"] = "a-fernet-key"
    assert subprocess.run(run, env=env, capture_output=True, timeout=60).returncode == 0
