import os

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def need_service(reason: str) -> None:
    """Skip a test whose service is missing, or fail it where CI requires services."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 takes ~0.3 s a user on this machine; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_throttling(settings):
    """Rate limits and login lockout are on by default; tests/test_security.py turns them
    back on where it proves them (hundreds of tests log in and call the API)."""
    settings.PLURALIGN_THROTTLING = False
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _tasks_in_process(settings):
    """Tests run Celery tasks in-process unless they start a real worker themselves."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


TEST_ENDPOINT_KEY = "mS1n3QvYkJ0lX0pQ3aK8m2b7cW9xZ4rT6yU1oE5iA2s="


@pytest.fixture(autouse=True)
def _endpoint_keys(settings):
    # Tests run with DEBUG off, where endpoint keys must come from the settings.
    settings.PLURALIGN_ENDPOINT_KEYS = [TEST_ENDPOINT_KEY]
