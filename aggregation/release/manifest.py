"""What a release says about itself: the card's configs (one per audience and dataset,
a file per split), the counts of who and what was left out, and manifest.json (each
file's SHA-256 and rows, the export's parameters). Split from `pipeline`, which builds
the files these describe."""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from aggregation import selectors
from aggregation.models import ExportJob
from aggregation.release import files, kinds
from aggregation.release.tally import Tally

PLATFORM_VERSION = "0.1.0"


def release_configs(sinks: dict[tuple[str, str, str], files.TableFile]) -> list[dict]:
    """The card's configs: one per audience and dataset with rows, its files by split
    (``train`` alone for a dataset without splits; a split without rows is not declared)."""
    grouped: dict[tuple[str, str], dict[str, files.TableFile]] = {}
    for (audience, kind, split), sink in sorted(sinks.items()):
        if sink.rows:
            grouped.setdefault((audience, kind), {})[split] = sink
    configs = []
    for (audience, kind), by_split in sorted(grouped.items()):
        order = kinds.dataset(kind).splits or ("",)
        configs.append(
            {
                "name": f"{audience}-{kind}".replace("_", "-"),
                "path": f"{audience}/{kind}/"
                if by_split.keys() - {""}
                else f"{audience}/{kind}.parquet",
                "files": [
                    (split or "train", f"{by_split[split].name}.parquet")
                    for split in order
                    if split in by_split
                ],
                "rows": sum(sink.rows for sink in by_split.values()),
                "split_rows": {split or "train": by_split[split].rows for split in by_split},
                "audience": audience,
                "kind": kind,
            }
        )
    return configs


def manifest_write(
    job: ExportJob,
    directory: Path,
    *,
    selection: selectors.ReleaseSelection,
    options: dict,
    names: list[str],
) -> list[dict]:
    """Write manifest.json (each file's sha256, size and rows; the parameters); its entries."""
    entries = [
        {
            "path": name,
            "sha256": files.sha256_of(directory / name),
            "bytes": (directory / name).stat().st_size,
            "rows": files.count_rows(directory / name),
        }
        for name in sorted(names)
    ]
    manifest = {
        "platform": "pluralign",
        "platform_version": PLATFORM_VERSION,
        "campaign": job.campaign.slug,
        "version": job.version,
        "parameters": {
            "audiences": [audience.slug for audience in selection.audiences],
            "kinds": job.kinds,
            "formats": job.formats,
            "options": options,
            "snapshot_at": job.snapshot_at.isoformat(),
        },
        "files": entries,
        "built_at": timezone.now().isoformat(timespec="seconds"),
    }
    files.write_json(directory / "manifest.json", manifest)
    return entries


def release_counts(job, selection, tally: Tally, participants, sinks, previous) -> dict:
    summary = tally.summary()
    per_audience = {}
    for audience in selection.audiences:
        person = tally.people[audience.id]
        per_audience[audience.slug] = {
            **summary["audiences"][audience.slug],
            "suppressed_participants": person.suppressed_participants,
            "rows": {
                kind: sum(
                    sink.rows
                    for (slug, name, _), sink in sinks.items()
                    if slug == audience.slug and name == kind
                )
                for kind in job.kinds
                if any(key[:2] == (audience.slug, kind) for key in sinks)
            },
        }
    return {
        "items": summary["items"],
        "judgements": summary["judgements"],
        "participants": summary["participants"],
        "first_response_at": participants.first.isoformat() if participants.first else None,
        "last_response_at": participants.last.isoformat() if participants.last else None,
        "excluded_unconsented_participants": participants.unconsented,
        "excluded_failed_attention_participants": participants.failed_attention,
        "withdrawn_participants_total": selectors.withdrawn_participants(
            campaign=selection.campaign, since=None
        ),
        "withdrawn_since_previous": selectors.withdrawn_participants(
            campaign=selection.campaign, since=previous.snapshot_at if previous else None
        ),
        "previous_version": previous.version if previous else None,
        **selectors.withheld_counts(selection),
        # Conversation campaigns only (other releases' bytes stay as they were).
        **(
            {"abandoned_conversations": selectors.abandoned_conversations(selection)}
            if kinds.get(selection.campaign.item_kind).reads_turns
            else {}
        ),
        "audiences": per_audience,
    }
