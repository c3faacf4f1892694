"""Generate candidates for a preference campaign from registered endpoints, with a
progress bar; runs the job's chunks in this process."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collection.models import Campaign
from collection.services import ServiceError
from endpoints import selectors, services
from endpoints.models import GenerationJob, GenerationRequest


class Command(BaseCommand):
    help = "Fill candidates for a campaign's items (by default those with fewer than two)."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="the campaign's slug")
        parser.add_argument("--user", required=True, help="the researcher whose endpoints to use")
        parser.add_argument(
            "--endpoint",
            action="append",
            default=[],
            metavar="NAME[:SAMPLES]",
            help="an endpoint of that user by name, optionally sampled several times (repeat)",
        )
        parser.add_argument("--keep", type=int, default=None, help="candidates per item")
        parser.add_argument("--diverse", action="store_true", help="keep the most different")
        parser.add_argument("--chunk-size", type=int, default=20)
        parser.add_argument("--resume", type=int, metavar="JOB", help="resume a job instead")

    def handle(self, *args, **options):
        if options["resume"]:
            job = GenerationJob.objects.filter(pk=options["resume"]).first()
            if job is None:
                raise CommandError(f"No generation job {options['resume']}.")
            job = self._resume(job)
        else:
            job = self._create(options)
        chunks = (
            GenerationRequest.objects.filter(job=job, applied=False)
            .values_list("chunk", flat=True)
            .distinct()
            .order_by("chunk")
        )
        with tqdm(total=job.requests_total, desc=f"job {job.pk}", unit="req") as bar:
            for chunk in list(chunks):
                services.generation_chunk_run(job_id=job.pk, chunk=chunk)
                progress = selectors.generation_job_progress(job=job)
                bar.n = progress.succeeded + progress.failed
                bar.set_postfix(failed=progress.failed, refresh=False)
                bar.refresh()
        job.refresh_from_db()
        progress = selectors.generation_job_progress(job=job)
        for error in progress.errors:
            self.stderr.write(f"{error['endpoint']}: {error['error']} ({error['requests']}×)")
        self.stdout.write(
            f"Job {job.pk} {job.status}: {progress.succeeded} replies, {progress.failed} "
            f"failed, {progress.items_done} of {progress.items_total} items written."
        )
        if job.status == GenerationJob.Status.FAILED:
            raise CommandError("Nothing was generated.")

    def _resume(self, job):
        try:
            return services.generation_job_resume(job=job)
        except ServiceError as error:
            raise CommandError(error.message) from error

    def _create(self, options):
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign']!r}.")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        usable = {e.name: e for e in selectors.endpoints_usable_by(user)}
        sources = []
        for text in options["endpoint"]:
            name, _, samples = text.rpartition(":") if ":" in text else (text, "", "1")
            if name not in usable:
                raise CommandError(f"{user.username} has no endpoint named {name!r}.")
            if not samples.isdigit():
                raise CommandError(f"{text!r}: give NAME or NAME:SAMPLES.")
            sources.append({"endpoint": usable[name].pk, "samples": int(samples)})
        try:
            return services.generation_job_create(
                campaign=campaign,
                created_by=user,
                sources=sources,
                keep=options["keep"],
                diverse=options["diverse"],
                chunk_size=options["chunk_size"],
                enqueue=False,
            )
        except ServiceError as error:
            raise CommandError(f"{error.field}: {error.message}") from error
