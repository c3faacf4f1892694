"""Build a campaign's next release from the command line, with a progress bar."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from aggregation.models import FORMATS
from aggregation.release import jobs
from collection.models import Campaign
from collection.services import ServiceError


class Command(BaseCommand):
    help = "Build and publish the next release of a campaign (in this process)."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="the campaign's slug")
        parser.add_argument(
            "--audience", action="append", dest="audiences", help="an audience slug (repeat)"
        )
        parser.add_argument(
            "--format",
            action="append",
            dest="formats",
            choices=[name for name in FORMATS if name != "parquet"],
            help="also write jsonl and/or openai files (Parquet is always written)",
        )
        parser.add_argument("--kind", action="append", dest="kinds", help="a file kind (repeat)")
        parser.add_argument("--min-cell-size", type=int, default=5)
        parser.add_argument(
            "--keep-failed-attention",
            action="store_true",
            help="keep participants who failed attention checks",
        )
        parser.add_argument("--batch-rows", type=int, default=None)
        parser.add_argument(
            "--split-views",
            action="store_true",
            help="build the split views (by participant, by item, held-out) at any size",
        )

    def handle(self, *args, **options):
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign with slug {options['campaign']!r}.")
        export_options = {
            "min_cell_size": options["min_cell_size"],
            "exclude_failed_attention": not options["keep_failed_attention"],
        }
        if options["batch_rows"]:
            export_options["batch_rows"] = options["batch_rows"]
        if options["split_views"]:
            export_options["split_views"] = True
        try:
            job = jobs.export_job_create(
                campaign=campaign,
                audiences=options["audiences"],
                kinds=options["kinds"],
                formats=options["formats"],
                options=export_options,
                enqueue=False,
            )
        except ServiceError as error:
            raise CommandError(f"{error.field}: {error.message}") from error
        with tqdm(total=1000, desc=f"{campaign.slug} v{job.version}", unit="‰") as bar:

            def progress(fraction: float, message: str) -> None:
                bar.n = int(fraction * 1000)
                bar.set_postfix_str(message[:50], refresh=False)
                bar.refresh()

            job = jobs.export_job_run(job_id=job.pk, progress=progress)
        if job is None or job.status != job.Status.SUCCEEDED:
            raise CommandError(f"The export failed: {job.error if job else 'no job'}")
        self.stdout.write(
            self.style.SUCCESS(f"Published {settings.RELEASES_ROOT / job.release_path}")
        )
