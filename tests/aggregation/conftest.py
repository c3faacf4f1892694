"""Small campaigns with real responses (through the engine) for release tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from collection import payloads, services
from collection.models import Audience, Campaign, Item, Response
from collection.permissions import RESEARCHERS_GROUP
from tests.factories import (
    AudienceFactory,
    UserFactory,
    make_campaign,
    ready_participant,
)

AGE = [{"name": "age_band", "label": "Age band", "choices": ["18-39", "40+"]}]


def answer_all(participant, campaign, choose, *, limit: int | None = None) -> int:
    """Let a participant answer items until none is left (or ``limit``); returns how many."""
    done = 0
    while limit is None or done < limit:
        assignment = services.assignment_next(participant=participant, campaign=campaign)
        if isinstance(assignment, services.NoItem):
            break
        services.response_submit(
            participant=participant,
            assignment_id=assignment.pk,
            payload=choose(assignment.item),
            time_on_task_ms=1200,
            idempotency_key=uuid.uuid4(),
        )
        done += 1
    return done


def respond(person, campaign, audience, items, choose, *, days_ago: int = 0) -> None:
    """Stored responses to ``items``, validated as the engine validates them (quicker than
    the engine, which tests/collection covers; releases and pages only read the rows)."""
    moment = timezone.now() - timedelta(days=days_ago)
    Response.objects.bulk_create(
        Response(
            campaign=campaign,
            audience=audience,
            item=item,
            participant=person,
            payload=payloads.validate_response(
                kind=campaign.item_kind,
                payload=choose(item),
                item_payload=item.payload,
                preference_format=campaign.preference_format,
                rating_scale=campaign.rating_scale,
            ),
            time_on_task_ms=1500,
            idempotency_key=uuid.uuid4(),
            created_at=moment,
        )
        for item in items
    )


def respond_to_all(participant, campaign, audience, choose) -> None:
    """`respond` to every ordinary item of the campaign."""
    items = campaign.items.filter(is_attention_check=False).order_by("id")
    respond(participant, campaign, audience, items, choose)


def fail_attention_check(participant, campaign, audience) -> None:
    """A failed attention check, stored as the engine stores one."""
    item = Item.objects.create(
        campaign=campaign,
        prompt="Attention check: pick B.",
        payload={"candidates": [{"id": "a", "text": "no"}, {"id": "b", "text": "yes"}]},
        is_attention_check=True,
        expected={"choice": "b"},
    )
    Response.objects.create(
        campaign=campaign,
        audience=audience,
        item=item,
        participant=participant,
        payload={"choice": "a"},
        time_on_task_ms=900,
        attention_passed=False,
    )


@pytest.fixture
def owner():
    user = UserFactory(username="owner-researcher", email="owner@example.org")
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def preference_campaign(owner):
    """Two audiences (mass, and public with targets) over 8 items with k=6, everyone
    answering every item, plus:
    one withdrawn, one unconsented and one inattentive participant, and a small
    '40+' cell in the public audience."""
    everyone = AudienceFactory(slug="everyone", name="Everyone")
    public = AudienceFactory(
        slug="uk-adults",
        name="UK adults",
        kind=Audience.Kind.PUBLIC,
        attribute_schema=AGE,
        target_marginals={"age_band": {"18-39": 0.5, "40+": 0.5}},
    )
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


def demonstration_campaign(owner, audience) -> Campaign:
    campaign = make_campaign(
        audiences={audience: 5},
        items=4,
        owners=[owner],
        slug="ward-demos",
        item_kind=Campaign.ItemKind.DEMONSTRATION,
        transience=Campaign.Transience.EPISODIC,
    )
    for n in range(5):
        person = ready_participant(audience=audience, campaign=campaign)
        answer_all(person, campaign, lambda item, n=n: {"text": f"Reply {n} to {item.pk}."})
    return campaign
