"""Factories for the domain model. Items and targets go through the services, so
their slots exist exactly as they would in production."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from collection import services
from collection.models import Audience, Campaign, Membership, Participant
from collection.permissions import RESEARCHERS_GROUP

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_researcher(**fields):
    """A user in the researchers group."""
    user = UserFactory(**fields)
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    user = factory.SubFactory(UserFactory)


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    slug = factory.Sequence(lambda n: f"audience-{n}")
    name = factory.LazyAttribute(lambda audience: audience.slug.replace("-", " ").title())
    kind = Audience.Kind.MASS
    attribute_schema = factory.LazyFunction(list)
    target_marginals = factory.LazyFunction(dict)
    max_members = factory.LazyAttribute(
        lambda audience: {"dyadic": 1, "group": 10}.get(audience.kind)
    )


AGE_SCHEMA = [{"name": "age_band", "label": "Age band", "choices": ["18-39", "40+"]}]


def public_age_audience(*, targets: dict[str, float] | None = None, **fields) -> Audience:
    """A public audience asking for the age band (`AGE_SCHEMA`), with target shares
    (half and half unless ``targets`` says otherwise)."""
    return AudienceFactory(
        kind=Audience.Kind.PUBLIC,
        attribute_schema=AGE_SCHEMA,
        target_marginals={"age_band": targets or {"18-39": 0.5, "40+": 0.5}},
        **fields,
    )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    participant = factory.SubFactory(ParticipantFactory)
    audience = factory.SubFactory(AudienceFactory)
    audience_kind = factory.LazyAttribute(lambda membership: membership.audience.kind)
    attributes = factory.LazyFunction(dict)


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"campaign-{n}")
    name = factory.LazyAttribute(lambda campaign: campaign.slug.replace("-", " ").title())
    item_kind = Campaign.ItemKind.PREFERENCE
    competence = factory.LazyAttribute(
        lambda campaign: services.COMPETENCE_FOR_KIND[campaign.item_kind]
    )
    status = Campaign.Status.OPEN

    @factory.post_generation
    def owners(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.owners.set(extracted)


def preference_row(n: int, *, candidates: int = 2, **extra) -> dict:
    return {
        "external_id": f"p{n}",
        "prompt": f"Question number {n}?",
        "payload": {
            "candidates": [
                {
                    "id": "abcdefghi"[i],
                    "text": f"Answer {'abcdefghi'[i]} to {n}",
                    "source": f"model-{i}",
                }
                for i in range(candidates)
            ]
        },
        **extra,
    }


def item_rows(campaign: Campaign, count: int, *, start: int = 0) -> list[dict]:
    if campaign.item_kind == Campaign.ItemKind.PREFERENCE:
        n_candidates = 2 if campaign.preference_format == "choice" else 3
        rows = [preference_row(n, candidates=n_candidates) for n in range(start, start + count)]
    elif campaign.item_kind == Campaign.ItemKind.DEMONSTRATION:
        rows = [
            {
                "external_id": f"d{n}",
                "prompt": f"Write a reply for case {n}.",
                "payload": {"draft": f"Draft {n}"},
            }
            for n in range(start, start + count)
        ]
    else:
        rows = [
            {
                "external_id": f"q{n}",
                "prompt": f"Question {n}?",
                "payload": {"question": f"Question {n}?", "reference_answer": f"Answer {n}"},
            }
            for n in range(start, start + count)
        ]
    if campaign.is_episodic:
        for row in rows:
            row["context"] = {"messages": [{"role": "user", "content": "Earlier turn"}]}
    return rows


def make_campaign(*, audiences: dict[Audience, int], items: int = 10, **fields) -> Campaign:
    """An open campaign with ``items`` items, targeting each audience with its k."""
    campaign = CampaignFactory(**fields)
    for audience, k in audiences.items():
        services.campaign_set_target(campaign=campaign, audience=audience, overlap_k=k)
    if items:
        services.items_create(campaign=campaign, rows=item_rows(campaign, items))
    return campaign


def ready_participant(
    *, audience: Audience, campaign: Campaign | None = None, attributes: dict | None = None
) -> Participant:
    """A participant who has joined ``audience``, filled the profile and consented."""
    membership = MembershipFactory(audience=audience, attributes=attributes or {})
    if campaign is not None:
        services.consent_give(participant=membership.participant, campaign=campaign)
    return membership.participant
