"""One lock order for every path that touches a participant's work: submitting, skipping and
withdrawing race through the real API against PostgreSQL without a deadlock or a 500."""

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from collection import services
from collection.models import Assignment, Response, Slot, Withdrawal
from tests.factories import AudienceFactory, make_campaign, ready_participant

PAIRS = 64
# Pairs racing at once: two connections each, well inside max_connections on a server
# other suites share.
AT_ONCE = 8


def _race(requests: list) -> list[tuple[str, int, dict]]:
    """Run each ``(name, user, method, url, data)`` in its own thread and connection,
    released together by a barrier, AT_ONCE pairs at a time; return (name, status, body)."""
    results: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def call(barrier, name, user, url, data) -> None:
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(user)
        try:
            barrier.wait()
            answer = client.post(url, data, format="json")
            with lock:
                body = answer.json() if answer.status_code != 500 else {}
                results.append((name, answer.status_code, body))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    size = 2 * AT_ONCE
    for start in range(0, len(requests), size):
        batch = requests[start : start + size]
        barrier = threading.Barrier(len(batch))
        threads = [threading.Thread(target=call, args=(barrier, *request)) for request in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_submitting_while_withdrawing_never_deadlocks_and_leaves_consistent_data():
    audience = AudienceFactory()
    # Room for every participant's leased item and the next one a submission leases.
    campaign = make_campaign(audiences={audience: 2}, items=PAIRS)
    people = [ready_participant(audience=audience, campaign=campaign) for _ in range(PAIRS)]
    requests = []
    for n, person in enumerate(people):
        assignment = services.assignment_next(participant=person, campaign=campaign)
        submit = {
            "payload": {"choice": "a"},
            "time_on_task_ms": 900,
            "idempotency_key": str(uuid.uuid4()),
        }
        # Half leave the campaign, half the platform: both go through the same lock.
        withdraw = {"campaign": campaign.slug} if n % 2 else {}
        requests.append(
            ("submit", person.user, f"/api/v1/assignments/{assignment.pk}/submit/", submit)
        )
        requests.append(("withdraw", person.user, "/api/v1/withdrawals/", withdraw))

    results = _race(requests)

    statuses = Counter((name, status) for name, status, _ in results)
    assert statuses[("withdraw", 201)] == PAIRS, statuses
    # Each submission either came first (stored, then withdrawn) or second (refused).
    assert statuses[("submit", 201)] + statuses[("submit", 409)] == PAIRS, statuses
    assert all(
        body["detail"] == "You have withdrawn, so this answer was not saved."
        for name, status, body in results
        if (name, status) == ("submit", 409)
    )
    stored = Response.objects.filter(participant__in=people)
    assert stored.count() == statuses[("submit", 201)]
    assert not stored.filter(withdrawn_at__isnull=True).exists()
    assert Withdrawal.objects.filter(participant__in=people).count() == PAIRS
    # Every place any of them held, by a lease or a response, is free again, and
    # nothing of theirs is still leased or counted as completed.
    assert not Slot.objects.filter(campaign=campaign, filled=True).exists()
    assert not Slot.objects.filter(campaign=campaign, holder__isnull=False).exists()
    assert not Assignment.objects.filter(
        participant__in=people,
        status__in=[Assignment.Status.LEASED, Assignment.Status.COMPLETED],
    ).exists()
