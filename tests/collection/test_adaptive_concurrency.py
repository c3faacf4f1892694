"""Adaptive overlap under many annotators at once, with the pass adding slots while they
work, against real PostgreSQL: no over-assignment, no repeat, no cap breach."""

import random
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection

from aggregation import allocation
from collection import services
from collection.models import AllocationDecision, Assignment, Response, Slot
from tests.factories import AudienceFactory, make_campaign, ready_participant

PER_AUDIENCE = 10
ITEMS = 12
BASE_K, MAX_K, CAP = 2, 6, 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_and_passes_never_exceed_the_current_k_or_repeat_or_pass_the_cap():
    left, right = AudienceFactory(), AudienceFactory()
    campaign = make_campaign(
        audiences={left: BASE_K, right: BASE_K}, items=ITEMS, per_participant_cap=CAP
    )
    services.campaign_set_adaptive(
        campaign=campaign, setting=services.AdaptiveSetting(max_k=MAX_K, step=2)
    )
    items = list(campaign.items.order_by("id").values_list("id", flat=True))
    disputed = set(items[::2])
    people = [
        (ready_participant(audience=audience, campaign=campaign), audience)
        for audience in (left, right)
        for _ in range(PER_AUDIENCE)
    ]
    errors: list[BaseException] = []
    stop = threading.Event()
    start = threading.Barrier(len(people) + 1)

    def annotate(participant, audience, seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait(timeout=60)
            while not stop.is_set():
                lease = services.assignment_next(participant=participant, campaign=campaign)
                if isinstance(lease, services.NoItem):
                    time.sleep(0.02)  # the pass may add slots: come back, as people do
                    continue
                if rng.random() < 0.1:
                    services.assignment_skip(participant=participant, assignment_id=lease.pk)
                    continue
                choice = "b" if audience == right and lease.item_id in disputed else "a"
                services.response_submit(
                    participant=participant,
                    assignment_id=lease.pk,
                    payload={"choice": choice},
                    time_on_task_ms=500,
                    idempotency_key=uuid.uuid4(),
                )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    def allocate() -> None:
        try:
            start.wait(timeout=60)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                # Every slot filled before a pass that then finds nothing pending: done
                # (counted first, since nobody can fill a slot once none is free).
                settled = not Slot.objects.filter(campaign=campaign, filled=False).exists()
                result = allocation.adaptive_overlap_allocate(campaign=campaign, batch_items=3)
                if settled and result.items_decided == 0:
                    break
                time.sleep(0.01)
        except BaseException as error:
            errors.append(error)
        finally:
            stop.set()
            connection.close()

    threads = [
        threading.Thread(target=annotate, args=(person, audience, n))
        for n, (person, audience) in enumerate(people)
    ]
    threads.append(threading.Thread(target=allocate))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    slots = Counter(Slot.objects.filter(campaign=campaign).values_list("item_id", "audience_id"))
    answers = Counter(
        Response.objects.filter(campaign=campaign).values_list("item_id", "audience_id")
    )
    for key, k in slots.items():
        assert answers[key] == k <= MAX_K  # every slot filled once, none beyond it
        indexes = Slot.objects.filter(item_id=key[0], audience_id=key[1]).values_list(
            "index", flat=True
        )
        assert sorted(indexes) == list(range(k))
    # The extra judgements went to the disputed items, all the way to max k.
    for item in items:
        for audience in (left, right):
            assert slots[(item, audience.pk)] == (MAX_K if item in disputed else BASE_K)
    pairs = list(Assignment.objects.values_list("participant_id", "item_id"))
    assert len(pairs) == len(set(pairs))
    per_person = Counter(Response.objects.values_list("participant_id", flat=True))
    assert max(per_person.values()) <= CAP
    rounds = Counter(AllocationDecision.objects.values_list("item_id", "audience_id", "k_before"))
    assert set(rounds.values()) == {1}
