"""The demo's four audiences (mass, public, group, dyadic) and their members."""

from __future__ import annotations

from collection import services
from collection.demo.content import AGE_BANDS, GENDERS, PUBLIC_TARGETS
from collection.models import Audience


def _audiences(admin) -> dict[str, Audience]:
    specs = [
        dict(
            slug="everyone",
            name="Everyone",
            kind="mass",
            description="Anyone who signs up. The usual crowd-sourced baseline.",
        ),
        dict(
            slug="uk-adults",
            name="UK adults",
            kind="public",
            description="Adults living in the UK, weighted to census shares.",
            attribute_schema=[
                {"name": "age_band", "label": "Age band", "choices": AGE_BANDS},
                {"name": "gender", "label": "Gender", "choices": GENDERS},
            ],
            target_marginals=PUBLIC_TARGETS,
        ),
        dict(
            slug="ward-7-nurses",
            name="Ward 7 nursing team",
            kind="group",
            max_members=12,
            description="The nurses of one hospital ward, shaping their handover assistant.",
            attribute_schema=[
                {
                    "name": "role",
                    "label": "Role",
                    "choices": ["staff nurse", "senior nurse", "student nurse"],
                }
            ],
        ),
        dict(
            slug="alex-assistant",
            name="Alex's assistant",
            kind="dyadic",
            description="One person, Alex, teaching their own assistant.",
            attribute_schema=[
                {"name": "main_use", "label": "Main use", "choices": ["work", "home", "study"]}
            ],
        ),
    ]
    return {spec["slug"]: services.audience_create(created_by=admin, **spec) for spec in specs}
