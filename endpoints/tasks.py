"""Celery tasks: a few lines each, taking ids, safe to run twice."""

from celery import shared_task

from endpoints import services


@shared_task(name="endpoints.generation_chunk_run", acks_late=True)
def generation_chunk_run(job_id: int, chunk: int) -> int | None:
    """Call the endpoints for one chunk of a generation job's items."""
    return services.generation_chunk_run(job_id=job_id, chunk=chunk)
