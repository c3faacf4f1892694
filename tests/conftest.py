import pytest

from tests.helpers import TEST_ENDPOINT_KEY


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


@pytest.fixture(autouse=True)
def _endpoint_keys(settings):
    # Tests run with DEBUG off, where endpoint keys must come from the settings.
    settings.PLURALIGN_ENDPOINT_KEYS = [TEST_ENDPOINT_KEY]
