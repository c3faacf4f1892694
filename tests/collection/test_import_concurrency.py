"""Two imports into one campaign at once both succeed, each item with its k slots."""

import io
import json
import threading

import pytest
from django.db import connection

from collection import imports
from collection.models import Slot
from tests.factories import AudienceFactory, make_campaign, preference_row

K = 2


class HeldFile(io.BytesIO):
    """A JSONL upload that stops after its first line until ``go`` is set, the way a
    slow client's upload does, so the second import can run meanwhile."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.waiting, self.go = threading.Event(), threading.Event()
        self.lines = 0

    def readline(self, size=-1):
        self.lines += 1
        if self.lines == 2:
            self.waiting.set()
            self.go.wait(timeout=30)
        return super().readline(size)


def jsonl(start: int, count: int) -> bytes:
    return b"".join(
        json.dumps(preference_row(n)).encode() + b"\n" for n in range(start, start + count)
    )


@pytest.mark.django_db(transaction=True)
def test_two_imports_into_one_campaign_at_once_both_succeed_with_k_slots_per_item():
    campaign = make_campaign(audiences={AudienceFactory(): K}, items=0)
    slow = HeldFile(jsonl(0, 50))
    outcomes: dict[str, object] = {}

    def run(name: str, stream) -> None:
        try:
            outcomes[name] = imports.items_import(
                campaign=campaign, stream=stream, file_format="jsonl"
            ).created
        except Exception as error:  # the test reports what each import got
            outcomes[name] = error
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("slow", slow))
    first.start()
    assert slow.waiting.wait(timeout=30)
    second = threading.Thread(target=run, args=("quick", io.BytesIO(jsonl(100, 30))))
    second.start()
    second.join(timeout=2)  # finishes, or waits for the slow one's campaign lock
    slow.go.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert outcomes == {"slow": 50, "quick": 30}
    assert Slot.objects.filter(campaign=campaign).count() == 80 * K
