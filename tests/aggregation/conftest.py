"""Fixtures of the release tests: small campaigns with real responses (helpers that are
not fixtures are in tests/helpers.py)."""

from __future__ import annotations

import pytest

from collection import services
from tests.factories import (
    AudienceFactory,
    make_campaign,
    make_researcher,
    public_age_audience,
    ready_participant,
)
from tests.helpers import fail_attention_check, respond_to_all


@pytest.fixture
def owner():
    return make_researcher(username="owner-researcher", email="owner@example.org")


@pytest.fixture
def preference_campaign(owner):
    """Two audiences (mass, and public with targets) over 8 items with k=6, everyone
    answering every item, plus:
    one withdrawn, one unconsented and one inattentive participant, and a small
    '40+' cell in the public audience."""
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    public = public_age_audience(slug="uk-adults", name="UK adults")
    campaign = make_campaign(
        audiences={everyone: 6, public: 6},
        items=8,
        owners=[owner],
        slug="advice-pairs",
        name="Advice pairs",
        rating_min=1,
        rating_max=5,
    )
    people = {"everyone": [], "uk-adults": []}
    for n in range(6):
        person = ready_participant(audience=everyone, campaign=campaign)
        respond_to_all(
            person, campaign, everyone, lambda item, n=n: {"choice": "a" if n % 3 else "b"}
        )
        people["everyone"].append(person)
    for n in range(6):
        band = "18-39" if n < 5 else "40+"
        person = ready_participant(
            audience=public, campaign=campaign, attributes={"age_band": band}
        )
        respond_to_all(
            person,
            campaign,
            public,
            lambda item, n=n: {
                "choice": "tie" if n == 4 else ("b" if n % 2 else "a"),
                "ratings": {"a": 1 + n % 5, "b": 5 - n % 5},
            },
        )
        people["uk-adults"].append(person)
    withdrawn = people["everyone"][0]
    services.participant_withdraw(participant=withdrawn, campaign=campaign)
    unconsented = people["everyone"][1]
    unconsented.consents.all().delete()
    inattentive = people["everyone"][2]
    fail_attention_check(inattentive, campaign, everyone)
    campaign.refresh_from_db()
    campaign.test_people = people
    return campaign
