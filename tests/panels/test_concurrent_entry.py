"""Many people arriving through the panel link at once: no quota fills past its places,
and the same panel id entered twice at once is one entrant."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from panels import services
from panels.models import PanelEntrant, PanelStudy
from tests.factories import make_campaign, make_researcher, public_age_audience

pytestmark = pytest.mark.django_db(transaction=True)

PLACES = 8  # 4 per age band at 50/50 targets
ARRIVALS = 24  # three times the places, skewed 2:1 towards the younger band


def _arrive(study, pid: str, age: str, errors: list, barrier: threading.Barrier) -> None:
    try:
        client = Client()
        barrier.wait(timeout=60)
        entry = reverse("panel_entry", args=[study.token])
        assert client.post(entry, {"PROLIFIC_PID": pid}).status_code == 302
        assert (
            client.post(reverse("panel_consent", args=[study.token]), {"agree": "on"}).status_code
            == 302
        )
        screened = client.post(reverse("panel_screener", args=[study.token]), {"age_band": age})
        assert screened.status_code == 302
    except BaseException as error:  # reported below
        errors.append(error)
    finally:
        connection.close()


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)


def test_concurrent_entrants_never_overfill_a_quota():
    researcher = make_researcher(username="quota")
    audience = public_age_audience(slug="quota-uk")
    campaign = make_campaign(audiences={audience: 3}, items=4, owners=[researcher])
    study = services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=PanelStudy.Panel.PROLIFIC,
        name="Quota",
        places=PLACES,
        created_by=researcher,
    )
    errors: list = []
    barrier = threading.Barrier(ARRIVALS)
    ages = ["18-39" if n % 3 else "40+" for n in range(ARRIVALS)]  # 16 young, 8 older
    _run(
        [
            threading.Thread(target=_arrive, args=(study, f"p{n}", ages[n], errors, barrier))
            for n in range(ARRIVALS)
        ]
    )
    assert not errors, errors
    placed = Counter(
        entrant.cell["age_band"]
        for entrant in PanelEntrant.objects.filter(study=study, status="working")
    )
    # Every band gets exactly its places: none past them, none left empty while
    # people of that band were turned away.
    assert placed == {"18-39": 4, "40+": 4}
    assert PanelEntrant.objects.filter(study=study, status="overquota").count() == ARRIVALS - 8
    assert audience.memberships.count() == 8


def test_the_same_id_entering_twice_at_once_is_one_entrant(django_user_model):
    researcher = make_researcher(username="twice")
    audience = public_age_audience(slug="twice-uk")
    campaign = make_campaign(audiences={audience: 3}, items=2, owners=[researcher])
    study = services.panel_study_create(
        campaign=campaign,
        audience=audience,
        panel=PanelStudy.Panel.PROLIFIC,
        name="Twice",
        places=5,
        created_by=researcher,
    )
    errors: list = []
    barrier = threading.Barrier(6)
    _run(
        [
            threading.Thread(target=_arrive, args=(study, "same", "40+", errors, barrier))
            for _ in range(6)
        ]
    )
    assert not errors, errors
    assert PanelEntrant.objects.filter(study=study).count() == 1
    assert django_user_model.objects.filter(username__startswith="panel-").count() == 1
    assert PanelEntrant.objects.get(study=study).status == "working"
