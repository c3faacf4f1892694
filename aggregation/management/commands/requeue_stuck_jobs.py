"""Requeue export jobs whose worker stopped answering (for cron, or without beat)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aggregation.release import jobs


class Command(BaseCommand):
    help = (
        "Requeue export jobs that say running but whose worker (or the process that ran "
        "`export_release` or the web server without a broker) has not been heard from "
        "for EXPORT_JOB_STALE_SECONDS; fail those tried EXPORT_JOB_MAX_ATTEMPTS times. "
        "Without a broker the requeued jobs are built in this process before it exits. "
        "Safe to run at any time, and twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"default {settings.EXPORT_JOB_STALE_SECONDS:g}",
        )

    def handle(self, *args, **options):
        stale_after = options["stale_after"]
        if stale_after is not None and stale_after < settings.EXPORT_JOB_HEARTBEAT_SECONDS * 2:
            raise CommandError(
                f"--stale-after must be at least two heartbeats "
                f"({settings.EXPORT_JOB_HEARTBEAT_SECONDS * 2:g} s), or live jobs look stuck."
            )
        result = jobs.export_jobs_requeue_stuck(stale_after=stale_after)
        for job in result.requeued:
            self.stdout.write(
                f"{job.campaign} v{job.version}: requeued (last heard from "
                f"{job.last_heard_seconds:.0f} s ago, attempt {job.attempts + 1} next)"
            )
        for job in result.failed:
            self.stdout.write(
                f"{job.campaign} v{job.version}: failed after {job.attempts} attempts "
                f"(last heard from {job.last_heard_seconds:.0f} s ago)"
            )
        if not result.requeued and not result.failed:
            self.stdout.write("No stuck export job.")
