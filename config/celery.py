import os

from celery import Celery
from celery.signals import worker_ready
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pluralign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def requeue_stuck_jobs_when_ready(sender, **kwargs) -> None:
    """A restarted worker heals the export jobs its killed predecessor left running,
    without beat: once now, and once the predecessor's last heartbeat must be stale."""
    later = settings.EXPORT_JOB_STALE_SECONDS + settings.EXPORT_JOB_HEARTBEAT_SECONDS
    for countdown in (0, later):
        sender.app.send_task("aggregation.export_jobs_requeue_stuck", countdown=countdown)
