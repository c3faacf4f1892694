"""The participant's advisory lock, the first lock of the lock order (see the package docstring)."""

from __future__ import annotations

from django.db import connection

from collection.models import Participant


def _lock_participant(participant: Participant) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x504C5552, participant.pk])
