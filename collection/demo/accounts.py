"""The demo's users: the logins printed after loading, and how each is made."""

from __future__ import annotations

from dataclasses import dataclass

from collection.demo.content import DEMO_PASSWORD
from collection.models import Audience


@dataclass
class DemoLogin:
    role: str
    username: str
    note: str


def _logins() -> list[DemoLogin]:
    group_invite = (
        Audience.objects.get(slug="ward-7-nurses").invitations.filter(revoked=False).first()
    )
    join = f"/join/{group_invite.token}/" if group_invite else "(see admin)"
    return [
        DemoLogin("admin", "admin", "Django admin at /admin/ and the coverage dashboard"),
        DemoLogin("researcher", "researcher", "owns every demo campaign, listed at /campaigns/"),
        DemoLogin(
            "annotator",
            "annotator",
            f"member of everyone and uk-adults; join the nurses' group at {join}",
        ),
        DemoLogin("annotator (dyad)", "alex", "the one member of alex-assistant"),
    ]


def _user(User, username: str, *, can_log_in: bool = True, **flags):
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.org", **flags}
    )
    if created:
        # Simulated people never log in; hashing their passwords would take seconds.
        if can_log_in:
            user.set_password(DEMO_PASSWORD)
        else:
            user.set_unusable_password()
        user.save()
    return user
