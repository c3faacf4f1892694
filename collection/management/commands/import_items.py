from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collection.imports import FORMATS, ImportFileError, ImportResult, items_import
from collection.models import Campaign


def add_import_arguments(parser) -> None:
    """The options every command that imports a file takes."""
    parser.add_argument(
        "path",
        type=Path,
        help="A file (JSONL, CSV, HH-RLHF, pairs, prompt/response rows; plain or .gz; "
        "Parquet; Arrow; a .zip or .tar.gz of a datasets folder) or a folder written by "
        "datasets' save_to_disk.",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="The shape of a row (default: auto, told from the first row).",
    )
    parser.add_argument(
        "--keep-valid",
        action="store_true",
        help="Store every valid row and report each rejected one (default: all or nothing).",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=None,
        help="Stop reading after this many bytes (default: PLURALIGN_IMPORT_MAX_BYTES, "
        f"now {settings.IMPORT_MAX_BYTES:,}; 0 for no limit).",
    )


def run_import(campaign: Campaign, options: dict, **extra) -> ImportResult:
    """Import ``options["path"]`` into the campaign; a refusal becomes a CommandError."""
    path: Path = options["path"]
    max_bytes = options["max_bytes"]
    if max_bytes is not None and max_bytes < 0:
        raise CommandError("--max-bytes must be 0 (no limit) or more.")
    arguments = {
        "campaign": campaign,
        "file_format": options["format"],
        "max_bytes": max_bytes,
        "mode": "keep_valid" if options["keep_valid"] else "all",
        **extra,
    }
    try:
        if path.is_dir():
            return items_import(stream=path, **arguments)
        with path.open("rb") as stream:
            return items_import(stream=stream, **arguments)
    except FileNotFoundError as error:
        raise CommandError(f"No file {path}.") from error
    except ImportFileError as error:
        too_large = error.status == 413
        hint = " Raise the limit with --max-bytes N (0 for none)." if too_large else ""
        listed = "".join(f"\n  {row}" for row in error.rejected)
        raise CommandError(f"{path}: {error} Nothing was imported.{hint}{listed}") from error


def report_lines(result: ImportResult) -> list[str]:
    """What the import did, then each rejected row with its number and reason."""
    lines = [
        f"Imported {result.created} items into {result.campaign} (format {result.format}).",
        f"Read {result.rows_read} {result.unit.lower()}s.",
    ]
    lines += [f"  {line}" for line in result.shapes.lines()]
    if result.mode == "keep_valid":
        lines.append(f"Rejected {result.rejected_count} rows.")
        lines += [f"  {row}" for row in result.rejected]
        if result.rejected_count > len(result.rejected):
            lines.append(f"  … and {result.rejected_count - len(result.rejected)} more.")
    return lines


class Command(BaseCommand):
    help = (
        "Import items into a campaign from a file or a datasets folder: all or nothing, "
        "or with --keep-valid every valid row and a report of the rejected ones."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's slug.")
        add_import_arguments(parser)
        parser.add_argument(
            "--prompts-only",
            action="store_true",
            help="Preference items may come without candidates (generate them later).",
        )

    def handle(self, *args, campaign: str, **options):
        target = Campaign.objects.filter(slug=campaign).first()
        if target is None:
            raise CommandError(f"No campaign {campaign!r}.")
        result = run_import(target, options, prompts_only=options["prompts_only"])
        for line in report_lines(result):
            self.stdout.write(line)
