"""Recompute campaigns' metrics for the dashboard and record coverage alerts (for cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from aggregation.monitoring import services as monitoring
from collection.models import Campaign


class Command(BaseCommand):
    help = (
        "Check open and paused campaigns (or the named ones) for under-covered strata and "
        "dominant annotators: store their metrics for the dashboard, add new alerts and "
        "resolve the ones that no longer hold. Safe to run at any time, and twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--campaign", action="append", dest="campaigns", help="a campaign slug (repeat)"
        )

    def handle(self, *args, **options):
        slugs = options["campaigns"]
        if slugs:
            missing = sorted(
                set(slugs)
                - set(Campaign.objects.filter(slug__in=slugs).values_list("slug", flat=True))
            )
            if missing:
                raise CommandError(f"No campaign with slug {', '.join(map(repr, missing))}.")
        results = monitoring.alerts_check_all(slugs=slugs)
        for slug, result in results.items():
            self.stdout.write(
                f"{slug}: {result.created} new, {result.kept} still open, "
                f"{result.resolved} resolved"
            )
        if not results:
            self.stdout.write("No open or paused campaign to check.")
