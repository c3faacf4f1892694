"""Many annotators at once, against real PostgreSQL: the engine never over-assigns."""

import random
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection

from collection import services
from collection.models import Assignment, Response, Slot
from tests.factories import AudienceFactory, make_campaign, ready_participant

ANNOTATORS = 24
ITEMS = 40
K = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_exceed_k_or_repeat_or_lose_a_submission():
    audience = AudienceFactory()
    campaign = make_campaign(audiences={audience: K}, items=ITEMS)
    people = [ready_participant(audience=audience, campaign=campaign) for _ in range(ANNOTATORS)]
    stored: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(ANNOTATORS)

    def annotate(participant, seed: int) -> None:
        rng = random.Random(seed)
        waits = 0
        try:
            start.wait()
            while True:
                result = services.assignment_next(participant=participant, campaign=campaign)
                if isinstance(result, services.NoItem):
                    # A slot still leased to someone may come back (a skip gives it
                    # back), as a real annotator would find on returning: leave only
                    # once nothing is in flight, or the last skip's slot stays empty.
                    if (
                        waits < 500
                        and Slot.objects.filter(
                            campaign=campaign, filled=False, holder__isnull=False
                        ).exists()
                    ):
                        waits += 1
                        time.sleep(0.01)
                        continue
                    return
                if rng.random() < 0.1:
                    services.assignment_skip(participant=participant, assignment_id=result.pk)
                    continue
                key = uuid.uuid4()
                submission = services.response_submit(
                    participant=participant,
                    assignment_id=result.pk,
                    payload={"choice": rng.choice("ab")},
                    time_on_task_ms=500,
                    idempotency_key=key,
                )
                if rng.random() < 0.2:  # a double click: the same key again
                    again = services.response_submit(
                        participant=participant,
                        assignment_id=result.pk,
                        payload={"choice": "a"},
                        time_on_task_ms=500,
                        idempotency_key=key,
                    )
                    assert again.response.pk == submission.response.pk and not again.created
                with lock:
                    stored.append(submission.response.pk)
        except BaseException as error:  # reported below, with the thread's own traceback
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=annotate, args=(person, n)) for n, person in enumerate(people)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    per_item = Counter(Response.objects.filter(campaign=campaign).values_list("item_id", flat=True))
    assert max(per_item.values()) <= K
    # Skipped slots went back to others, so with enough annotators every slot filled.
    assert sum(per_item.values()) == ITEMS * K
    assert Slot.objects.filter(campaign=campaign, filled=False).count() == 0
    # Every acknowledged submission is stored, once.
    assert len(stored) == len(set(stored)) == Response.objects.count()
    pairs = Assignment.objects.values_list("participant_id", "item_id")
    assert len(pairs) == len(set(pairs))


@pytest.mark.django_db(transaction=True)
def test_concurrent_members_of_one_group_never_take_more_than_its_quota():
    """Sixteen members of the over-represented group ask at once for slots of which
    their group may hold half: exactly that half is leased, however they interleave."""
    from tests.factories import public_age_audience

    audience = public_age_audience()  # 50 % / 50 %
    campaign = make_campaign(audiences={audience: 2}, items=6)  # 12 slots: 6 per band
    young = [
        ready_participant(audience=audience, campaign=campaign, attributes={"age_band": "18-39"})
        for _ in range(16)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(len(young))

    def ask(participant):
        try:
            start.wait(timeout=60)
            services.assignment_next(participant=participant, campaign=campaign)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(person,)) for person in young]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert (
        Assignment.objects.filter(campaign=campaign, status=Assignment.Status.LEASED).count() == 6
    )
    assert Slot.objects.filter(campaign=campaign, holder__isnull=False).count() == 6
