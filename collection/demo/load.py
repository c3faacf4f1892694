"""`demo_load`: the whole demo in one transaction (`manage.py demo`)."""

from __future__ import annotations

import random

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from collection import services
from collection.authentication import token_hash
from collection.demo.accounts import DemoLogin, _logins, _user
from collection.demo.audiences import _audiences
from collection.demo.campaigns import _campaigns
from collection.demo.content import DEMO_API_KEY, SEED
from collection.demo.simulation import _simulate
from collection.models import ApiToken, Campaign
from collection.permissions import RESEARCHERS_GROUP


def demo_load(*, simulate: bool = True, seed: int = SEED) -> list[DemoLogin]:
    """Create the demo once; running it again changes nothing and returns the logins."""
    User = get_user_model()
    if Campaign.objects.filter(slug="everyday-advice-pairs").exists():
        return _logins()
    rng = random.Random(seed)
    with transaction.atomic():
        researchers, _ = Group.objects.get_or_create(name=RESEARCHERS_GROUP)
        admin = _user(User, "admin", is_staff=True, is_superuser=True)
        researcher = _user(User, "researcher")
        researcher.groups.add(researchers)
        ApiToken.objects.create(
            user=researcher,
            name="demo (README example)",
            prefix=DEMO_API_KEY[:10],
            key_hash=token_hash(DEMO_API_KEY),
        )
        audiences = _audiences(admin)
        campaigns = _campaigns(researcher, audiences, rng)
        annotator = services.participant_get_or_create(user=_user(User, "annotator"))
        services.membership_join(
            participant=annotator, audience=audiences["everyone"], attributes={}
        )
        services.membership_join(
            participant=annotator,
            audience=audiences["uk-adults"],
            attributes={"age_band": "30-44", "gender": "woman"},
        )
        alex = services.participant_get_or_create(user=_user(User, "alex"))
        invitation = services.invitation_create(
            audience=audiences["alex-assistant"], created_by=researcher, note="Alex"
        )
        services.invitation_accept(token=invitation.token, participant=alex)
        services.membership_set_attributes(
            membership=alex.memberships.get(audience=audiences["alex-assistant"]),
            attributes={"main_use": "work"},
        )
        services.invitation_create(
            audience=audiences["ward-7-nurses"],
            created_by=researcher,
            max_uses=10,
            note="Ward 7 team (open link)",
        )
    if simulate:
        with transaction.atomic():
            _simulate(audiences, campaigns, alex, rng)
    return _logins()
