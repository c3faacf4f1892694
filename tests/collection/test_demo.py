"""`manage.py demo` builds the demo once; running it again changes nothing."""

import io

import pytest
from django.core.management import call_command

from collection.models import Audience, Campaign, Item, Membership, Response
from collection.services import COMPETENCE_FOR_KIND

pytestmark = pytest.mark.django_db


def counts() -> tuple:
    return tuple(m.objects.count() for m in (Audience, Campaign, Item, Membership, Response))


def test_demo_is_idempotent_and_prints_the_logins():
    first = io.StringIO()
    call_command("demo", "--no-simulate", stdout=first)
    before = counts()
    again = io.StringIO()
    call_command("demo", "--no-simulate", stdout=again)
    assert counts() == before
    for output in (first.getvalue(), again.getvalue()):
        assert "annotator" in output and "researcher" in output and "demo-pass-2026" in output
    kinds = set(Audience.objects.values_list("kind", flat=True))
    assert kinds == {"mass", "public", "group", "dyadic"}
    assert Item.objects.count() >= 300
    campaigns = Campaign.objects.all()
    assert {c.item_kind for c in campaigns} == {"preference", "demonstration", "qa", "rating"}
    assert all(c.competence == COMPETENCE_FOR_KIND[c.item_kind] for c in campaigns)
    episodic = Campaign.objects.get(transience="episodic")
    assert all(item.messages for item in episodic.items.all())
    assert Audience.objects.get(kind="public").target_marginals["age_band"]
