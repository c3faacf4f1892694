"""The world an outside probe meets: one researcher's campaigns, audiences, endpoints,
panel study, conversations and release, with a second researcher, an annotator, an
admin and nobody logged in to knock on every door. Its free text carries `MARK`, so a
page that renders it unescaped shows up."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test.utils import override_settings

from aggregation.release import jobs
from collection import services
from collection.models import Audience, Invitation
from endpoints.standin import StandinServer
from panels import services as panel_services
from panels.models import PanelStudy
from tests.factories import (
    AudienceFactory,
    MembershipFactory,
    UserFactory,
    make_campaign,
    make_researcher,
    public_age_audience,
    ready_participant,
)
from tests.helpers import STANDIN_KEY, answer_all, conversation_campaign, converse

MARK = "<script>probe(1)</script>"
# Words only the owner, the annotator and an admin may be shown: the annotator's
# rationale, the dyad's name and its conversation's opening.
PRIVATE = ("rationale-4f2a", "dyad-9c1e", "opening-7b3d")


@pytest.fixture(scope="package")
def _package_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once for tests/security inside a transaction that is rolled
    back when the package's tests end; each test runs in its own savepoint inside it
    (pytest-django's `db`), so what one test changes is gone before the next, as when
    it was built per test (~0.8 s a door, 33 doors). The settings the suite's
    function-scoped autouse fixtures (tests/conftest.py) give every test are given here
    too, since this runs before them."""
    from config.celery import app
    from tests.helpers import TEST_ENDPOINT_KEY

    overrides = override_settings(
        RELEASES_ROOT=tmp_path_factory.mktemp("releases"),
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        PLURALIGN_THROTTLING=False,
        AXES_ENABLED=False,
        PLURALIGN_ENDPOINT_KEYS=[TEST_ENDPOINT_KEY],
    )
    eager = app.conf.task_always_eager
    with django_db_blocker.unblock(), overrides, StandinServer(api_key=STANDIN_KEY) as server:
        app.conf.task_always_eager = True
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world(server)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            app.conf.task_always_eager = eager


@pytest.fixture
def world(db, _package_world) -> dict:
    return _package_world


def build_world(standin) -> dict:
    owner = make_researcher(username="owner", first_name=MARK)
    other = make_researcher(username="other")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    everyone = AudienceFactory(slug="everyone", name=f"Everyone {MARK}", created_by=owner)
    dyad = AudienceFactory(
        slug="dyad", name=f"Dyad {MARK} {PRIVATE[1]}", kind=Audience.Kind.DYADIC, created_by=owner
    )
    uk = public_age_audience(slug="uk", screened=True, created_by=owner)
    campaign = make_campaign(
        slug="main",
        name=f"Main {MARK}",
        instructions=MARK,
        audiences={everyone: 3, dyad: 1, uk: 2},
        items=4,
        owners=[owner],
        rating_min=1,
        rating_max=5,
    )
    annotator = ready_participant(audience=everyone, campaign=campaign)
    MembershipFactory(participant=annotator, audience=dyad)
    answer_all(
        annotator,
        campaign,
        lambda item: {"choice": "a", "rationale": f"{MARK} {PRIVATE[0]}"},
        limit=2,
    )
    lease = services.assignment_next(participant=annotator, campaign=campaign)
    invitation = Invitation.objects.create(audience=everyone, created_by=owner, token="tok-owner")
    chat, _, endpoints = conversation_campaign(
        owner,
        standin,
        slug="chat",
        name=f"Chat {MARK}",
        audience=dyad,
        seed_rows=[{"external_id": "s0", "prompt": f"{PRIVATE[2]} {MARK}"}],
    )
    services.consent_give(participant=annotator, campaign=chat)
    conversation = converse(annotator, chat, turns=1, rating=None)
    study = panel_services.panel_study_create(
        campaign=campaign,
        audience=uk,
        panel=PanelStudy.Panel.PROLIFIC,
        name=f"Study {MARK}",
        places=2,
        judgements_required=1,
        created_by=owner,
    )
    job = jobs.export_job_create(campaign=campaign, created_by=owner, enqueue=False)
    jobs.export_job_run(job_id=job.pk)
    _, owner_key = services.api_token_create(user=owner, name=f"key {MARK}")
    return {
        "users": {
            "anonymous": None,
            "annotator": annotator.user,
            "other": other,
            "owner": owner,
            "staff": staff,
        },
        "owner": owner,
        "annotator": annotator,
        "campaign": campaign,
        "chat": chat,
        "audience": everyone,
        "dyad": dyad,
        "uk": uk,
        "endpoint": endpoints[0],
        "conversation": conversation,
        "study": study,
        "job": job,
        "invitation": invitation,
        "lease": lease,
        "owner_key": owner_key,
        # Never in any reply, to anyone: the endpoint's key, its stored token, an API key.
        "secrets": (STANDIN_KEY, endpoints[0].api_key_encrypted, owner_key),
    }
