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
        # The coverage summary once, one line per checked campaign.
        checked = [line for line in output.splitlines() if " still open, " in line]
        assert len(checked) == len({line.split(":")[0] for line in checked}) >= 1
        assert "http://127.0.0.1:8000/" in output
    kinds = set(Audience.objects.values_list("kind", flat=True))
    assert kinds == {"mass", "public", "group", "dyadic"}
    assert Item.objects.count() >= 300
    campaigns = Campaign.objects.all()
    assert {c.item_kind for c in campaigns} == {"preference", "demonstration", "qa", "rating"}
    # The printed note once said "the four demo campaigns" while there were six.
    assert "owns every demo campaign" in first.getvalue()
    assert all(c.owners.filter(username="researcher").exists() for c in campaigns)
    assert all(c.competence == COMPETENCE_FOR_KIND[c.item_kind] for c in campaigns)
    episodic = Campaign.objects.get(transience="episodic")
    assert all(item.messages for item in episodic.items.all())
    assert Audience.objects.get(kind="public").target_marginals["age_band"]


def test_demo_prints_the_address_it_will_be_served_at(monkeypatch):
    monkeypatch.setenv("PORT", "8743")
    output = io.StringIO()
    call_command("demo", "--no-simulate", stdout=output)
    assert "Log in at http://127.0.0.1:8743/" in output.getvalue()
    assert "API docs: http://127.0.0.1:8743/api/docs/" in output.getvalue()
    assert ":8000" not in output.getvalue()
    named = io.StringIO()
    call_command("demo", "--no-simulate", "--url", "http://localhost:9000", stdout=named)
    assert "Log in at http://localhost:9000/" in named.getvalue()


def test_the_demo_has_a_rating_campaign():
    call_command("demo", "--no-simulate", stdout=io.StringIO())
    rating = Campaign.objects.get(preference_format=Campaign.PreferenceFormat.RATING)
    assert rating.item_kind == "preference" and rating.status == "open"
    assert rating.items.count() >= 10
    assert all(len(item.candidates) >= 2 for item in rating.items.all())
