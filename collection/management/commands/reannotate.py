"""A re-annotation study in one command: an existing dataset judged anew by several
audiences (a new campaign over them, the dataset imported into it, opened). Preference
pairs by default; with ``--rubric helpsteer2`` single responses rated on HelpSteer2's
five attributes from 0 to 4."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from collection import services
from collection.kinds.rating import RUBRICS
from collection.management.commands.import_items import (
    add_import_arguments,
    report_lines,
    run_import,
)
from collection.models import Audience, Campaign


class Command(BaseCommand):
    help = (
        "Create a preference campaign (or with --rubric a rating campaign) over the given "
        "audiences, import a dataset into it (HH-RLHF, prompt/chosen/rejected pairs, "
        "prompt/response rows as HelpSteer2's, in JSONL, Parquet or a datasets folder) and "
        "open it; all in one transaction, so a refusal leaves no campaign behind."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The new campaign's slug.")
        add_import_arguments(parser)
        parser.add_argument(
            "--audience",
            action="append",
            required=True,
            metavar="SLUG[=K]",
            help="A target audience, with its overlap k (judgements wanted per item); "
            "repeat for each audience.",
        )
        parser.add_argument("--k", type=int, default=3, help="k for audiences given without one.")
        parser.add_argument("--name", help="The campaign's name (default: from the slug).")
        parser.add_argument("--owner", help="Username of the researcher who owns the campaign.")
        parser.add_argument("--instructions", default="", help="What annotators are asked.")
        parser.add_argument(
            "--draft", action="store_true", help="Leave the campaign as a draft (default: open)."
        )
        parser.add_argument(
            "--rubric",
            choices=sorted(RUBRICS),
            help="Make a rating campaign (one response per item) with this rubric and scale, "
            "e.g. helpsteer2: helpfulness, correctness, coherence, complexity, verbosity, 0-4 "
            "(default: a preference campaign).",
        )

    def handle(self, *args, slug: str, **options):
        targets = self._targets(options["audience"], options["k"])
        owners = []
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No user {options['owner']!r}.")
            owners.append(owner)
        try:
            with transaction.atomic():
                campaign = services.campaign_create(
                    slug=slug,
                    name=options["name"] or slug.replace("-", " ").capitalize(),
                    owners=owners,
                    targets=targets,
                    instructions=options["instructions"],
                    **self._kind(options["rubric"]),
                )
                result = run_import(campaign, options)
                if not options["draft"]:
                    services.campaign_set_status(campaign=campaign, status=Campaign.Status.OPEN)
        except services.ServiceError as error:
            where = f"{error.field}: " if error.field else ""
            raise CommandError(f"{where}{error.message} Nothing was created.") from error
        for line in report_lines(result):
            self.stdout.write(line)
        audiences = ", ".join(f"{t.audience.slug} (k={t.overlap_k})" for t in targets)
        state = "a draft" if options["draft"] else "open"
        self.stdout.write(f"Campaign {campaign.slug} is {state}, for {audiences}.")

    def _kind(self, rubric: str | None) -> dict:
        if rubric:
            return {"item_kind": Campaign.ItemKind.RATING, **RUBRICS[rubric]}
        return {
            "item_kind": Campaign.ItemKind.PREFERENCE,
            "preference_format": Campaign.PreferenceFormat.CHOICE,
        }

    def _targets(self, given: list[str], default_k: int) -> list[services.CampaignTarget]:
        targets = []
        for value in given:
            audience_slug, _, k = value.partition("=")
            audience = Audience.objects.filter(slug=audience_slug).first()
            if audience is None:
                raise CommandError(f"--audience: no audience {audience_slug!r}.")
            try:
                overlap_k = int(k) if k else default_k
            except ValueError as error:
                raise CommandError(f"--audience {value}: k must be a whole number.") from error
            if overlap_k < 1:
                raise CommandError(f"--audience {value}: k must be at least 1.")
            targets.append(services.CampaignTarget(audience=audience, overlap_k=overlap_k))
        return targets
