from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collection.imports import FORMATS, ImportFileError, items_import
from collection.models import Campaign


class Command(BaseCommand):
    help = "Import items into a campaign from a JSONL, CSV or HH-RLHF file (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's slug.")
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file name.")
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=None,
            help="Stop reading after this many bytes (default: PLURALIGN_IMPORT_MAX_BYTES, "
            f"now {settings.IMPORT_MAX_BYTES:,}; 0 for no limit).",
        )
        parser.add_argument(
            "--prompts-only",
            action="store_true",
            help="Preference items may come without candidates (generate them later).",
        )

    def handle(self, *args, campaign: str, path: Path, **options):
        target = Campaign.objects.filter(slug=campaign).first()
        if target is None:
            raise CommandError(f"No campaign {campaign!r}.")
        file_format = options["format"] or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        max_bytes = options["max_bytes"]
        if max_bytes is not None and max_bytes < 0:
            raise CommandError("--max-bytes must be 0 (no limit) or more.")
        try:
            with path.open("rb") as stream:
                result = items_import(
                    campaign=target,
                    stream=stream,
                    file_format=file_format,
                    max_bytes=max_bytes,
                    prompts_only=options["prompts_only"],
                )
        except FileNotFoundError as error:
            raise CommandError(f"No file {path}.") from error
        except ImportFileError as error:
            too_large = error.status == 413
            hint = " Raise the limit with --max-bytes N (0 for none)." if too_large else ""
            raise CommandError(f"{path}: {error} Nothing was imported.{hint}") from error
        self.stdout.write(f"Imported {result.created} items into {target.slug}.")
