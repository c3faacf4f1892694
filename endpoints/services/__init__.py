"""Writes for models in the loop: endpoints (with their encrypted keys) and generation jobs.

A generation job's requests are rows, one per (item, endpoint, sample), created
with the job. Chunks of items run as separate Celery tasks; inside a chunk a
thread pool calls the endpoints, at most ``max_concurrency`` requests in flight
per endpoint, each with its timeout and bounded retries. Results are saved as
they arrive, in batches of at most a quarter second (a killed worker loses no
more), and an item's candidates are written
through `collection.services.items_candidates_append` once all its requests are
final, in the same transaction that marks them applied.

Modules: ``registration`` (``endpoint_create``, ``endpoint_update``,
``endpoint_keys_rotate``, ``endpoint_target``, ``endpoint_test_connection``), ``jobs``
(``generation_job_create``, ``generation_job_resume``) and ``chunks``
(``generation_chunk_run``: calling, saving, applying candidates, finishing the job).
"""

from endpoints.services.chunks import (
    LOCK_NAMESPACE,
    MAX_POOL_THREADS,
    PAUSE_ENV,
    SAVE_EVERY,
    SAVE_SECONDS,
    generation_chunk_run,
)
from endpoints.services.jobs import MAX_SAMPLES, generation_job_create, generation_job_resume
from endpoints.services.registration import (
    ENDPOINT_FIELDS,
    ConnectionCheck,
    endpoint_create,
    endpoint_keys_rotate,
    endpoint_target,
    endpoint_test_connection,
    endpoint_update,
)

__all__ = [
    "ENDPOINT_FIELDS",
    "LOCK_NAMESPACE",
    "MAX_POOL_THREADS",
    "MAX_SAMPLES",
    "PAUSE_ENV",
    "SAVE_EVERY",
    "SAVE_SECONDS",
    "ConnectionCheck",
    "endpoint_create",
    "endpoint_keys_rotate",
    "endpoint_target",
    "endpoint_test_connection",
    "endpoint_update",
    "generation_chunk_run",
    "generation_job_create",
    "generation_job_resume",
]
