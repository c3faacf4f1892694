"""Export jobs, release building and the per-campaign metrics.

A release is built into a hidden folder beside its target, every file is
fsynced, and the folder is published with one ``os.rename``; only then is the
`Release` row written. A worker killed on the way leaves a hidden partial
folder (cleared by the next run of the job) and no release. A job holds a
PostgreSQL advisory lock while it builds, so a redelivered task never builds
the same release twice at once, and a job whose lock is free while it says
"running" is known to be abandoned and may be run again.

The same job always gives the same bytes: rows come in a fixed order (item
id, then response id), the pseudonym key and the data snapshot are stored on
the job, and the writers' options are fixed (see `aggregation.exporters.files`).
Only manifest.json's ``built_at`` and the zip that contains it change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from aggregation import card, plots, selectors
from aggregation.exporters import files, tables
from aggregation.exporters.frames import (
    AudiencePeople,
    Frames,
    campaign_metrics_from_frames,
    rake,
)
from aggregation.metrics import vote_distribution
from aggregation.models import (
    DEFAULT_OPTIONS,
    FORMATS,
    KINDS_FOR_ITEM_KIND,
    ExportJob,
    Release,
)
from collection.models import Audience, Campaign
from collection.services import Conflict, ServiceError

logger = logging.getLogger(__name__)

PLATFORM_VERSION = "0.1.0"
LOCK_NAMESPACE = 0x52454C53  # "RELS"
# Tests only: seconds to sleep after each chunk, so a worker can be killed mid-build.
PAUSE_ENV = "PLURALIGN_RELEASE_PAUSE_SECONDS"
PROGRESS_EVERY_SECONDS = 0.5
LICENSE_PATTERN = re.compile(r"^[A-Za-z0-9.+-]{1,64}$")

Progress = Callable[[float, str], None]


# Export jobs ------------------------------------------------------------------------


def _clean_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ServiceError(
            f"Unknown option; expected one of {', '.join(sorted(DEFAULT_OPTIONS))}.",
            field=f"options.{unknown[0]}",
        )
    clean = dict(DEFAULT_OPTIONS)
    limits = {
        "min_cell_size": (1, 1000),
        "attention_failures_allowed": (0, 1000),
        "batch_rows": (100, 1_000_000),
    }
    for name, (low, high) in limits.items():
        value = options.get(name, clean[name])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ServiceError(
                f"Must be a whole number from {low} to {high}.", field=f"options.{name}"
            )
        clean[name] = value
    flag = options.get("exclude_failed_attention", clean["exclude_failed_attention"])
    if not isinstance(flag, bool):
        raise ServiceError("Must be true or false.", field="options.exclude_failed_attention")
    clean["exclude_failed_attention"] = flag
    license_id = options.get("license", clean["license"])
    if not isinstance(license_id, str) or not LICENSE_PATTERN.match(license_id):
        raise ServiceError("Give a licence identifier such as cc-by-4.0.", field="options.license")
    clean["license"] = license_id
    return clean


def export_job_create(
    *,
    campaign: Campaign,
    created_by=None,
    audiences: list[str] | None = None,
    kinds: list[str] | None = None,
    formats: list[str] | None = None,
    options: dict | None = None,
    enqueue: bool = True,
) -> ExportJob:
    """Queue the campaign's next release; the build starts once this transaction commits
    (``enqueue=False``: the caller runs `export_job_run` itself, as the command does)."""
    targets = {audience.slug: audience for audience in campaign.audiences.all()}
    if not targets:
        raise ServiceError("The campaign targets no audience yet.", field="audiences")
    chosen = []
    for slug in audiences or []:
        if slug not in targets:
            raise ServiceError(
                f"{slug!r} is not an audience of this campaign; choose from "
                f"{', '.join(sorted(targets))}.",
                field="audiences",
            )
        chosen.append(targets[slug])
    allowed_kinds = KINDS_FOR_ITEM_KIND[campaign.item_kind]
    for kind in kinds or []:
        if kind not in allowed_kinds:
            raise ServiceError(
                f"{kind!r} does not fit a {campaign.item_kind} campaign; choose from "
                f"{', '.join(allowed_kinds)}.",
                field="kinds",
            )
    for name in formats or []:
        if name not in FORMATS:
            raise ServiceError(f"Choose from {', '.join(FORMATS)}.", field="formats")
    clean_options = _clean_options(options)
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        latest = ExportJob.objects.filter(campaign=campaign).aggregate(v=Max("version"))["v"]
        job = ExportJob.objects.create(
            campaign=campaign,
            created_by=created_by,
            kinds=[kind for kind in allowed_kinds if not kinds or kind in kinds],
            formats=[name for name in FORMATS if name == "parquet" or name in (formats or [])],
            options=clean_options,
            version=(latest or 0) + 1,
            message="Waiting for a worker.",
        )
        job.audiences.set(sorted(chosen, key=lambda audience: audience.slug))
        if enqueue:
            _enqueue(job)
    return job


def _enqueue(job: ExportJob) -> None:
    from aggregation.tasks import release_build

    transaction.on_commit(lambda: release_build.delay(job.pk))


def export_job_is_abandoned(*, job: ExportJob) -> bool:
    """True when the job says queued or running but no process holds its lock."""
    if job.is_finished:
        return False
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job.pk])
        return bool(cursor.fetchone()[0])


def export_job_retry(*, job: ExportJob) -> ExportJob:
    """Run a failed (or abandoned) job again: same version, same bytes."""
    if job.status == ExportJob.Status.SUCCEEDED:
        raise Conflict("This export has succeeded already.", field="status")
    if job.status == ExportJob.Status.RUNNING and not export_job_is_abandoned(job=job):
        raise Conflict("This export is running.", field="status")
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.QUEUED,
            progress=0.0,
            message="Waiting for a worker.",
            error="",
            finished_at=None,
        )
        _enqueue(job)
    job.refresh_from_db()
    return job


def _try_lock(job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job_id])
        return bool(cursor.fetchone()[0])


def _unlock(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, job_id])


def export_job_run(*, job_id: int, progress: Progress | None = None) -> ExportJob | None:
    """Build and publish the job's release (the Celery task's body); safe to run twice.

    Returns the job, or None when there is no such job or another process is
    building it right now.
    """
    if not ExportJob.objects.filter(pk=job_id).exists():
        return None
    connection.ensure_connection()
    if not _try_lock(job_id):
        logger.info("export job %s is being built by another process", job_id)
        return None
    try:
        with transaction.atomic():
            job = ExportJob.objects.select_for_update().select_related("campaign").get(pk=job_id)
            if job.status == ExportJob.Status.SUCCEEDED:
                return job
            job.status = ExportJob.Status.RUNNING
            job.attempts += 1
            job.started_at = timezone.now()
            job.finished_at = None
            job.progress = 0.0
            job.error = ""
            job.message = "Starting."
            job.save()
        return _build_and_publish(job, progress)
    finally:
        _unlock(job_id)


def _job_progress(job: ExportJob, extra: Progress | None) -> Progress:
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if extra is not None:
            extra(fraction, message)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS or fraction >= 1.0:
            last[0] = now
            ExportJob.objects.filter(pk=job.pk).update(progress=fraction, message=message[:300])

    return report


def _build_and_publish(job: ExportJob, extra: Progress | None) -> ExportJob:
    root = Path(settings.RELEASES_ROOT) / job.campaign.slug
    name = f"v{job.version}"
    target = root / name
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f".{name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    partial = root / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    report = _job_progress(job, extra)
    try:
        summary = release_write(job=job, directory=partial, progress=report)
        files.fsync_tree(partial)
        if target.exists():
            # Published by an attempt that died before recording it: replace it.
            stale = root / f".{name}.stale-{uuid.uuid4().hex[:8]}"
            os.rename(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.rename(partial, target)
        files.fsync_dir(root)
        with transaction.atomic():
            release = Release.objects.create(
                campaign=job.campaign,
                job=job,
                version=job.version,
                path=f"{job.campaign.slug}/{name}",
                files=summary["files"],
                counts=summary["counts"],
                size_bytes=summary["size_bytes"],
                zip_name=summary["zip_name"],
                zip_bytes=summary["zip_bytes"],
                withdrawn_since_previous=summary["counts"]["withdrawn_since_previous"],
                snapshot_at=job.snapshot_at,
            )
            release.audiences.set(summary["audience_ids"])
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.SUCCEEDED,
                progress=1.0,
                message=f"Published {name}.",
                finished_at=timezone.now(),
                release_path=release.path,
            )
    except Exception as error:
        logger.exception("export job %s failed", job.pk)
        shutil.rmtree(partial, ignore_errors=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED,
            message="Failed.",
            error=f"{type(error).__name__}: {error}"[:5000],
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


# Building a release ------------------------------------------------------------------------


def pseudonym(key: str, participant_id: int) -> str:
    """HMAC-SHA256 of the participant id under the release's key (first 20 hex digits)."""
    return hmac.new(bytes.fromhex(key), str(participant_id).encode(), hashlib.sha256).hexdigest()[
        :20
    ]


def _people(
    scope: selectors.Scope, participants: selectors.Participants, *, key: str, min_cell_size: int
) -> tuple[dict[int, tables.People], dict[int, AudiencePeople]]:
    """Per audience: pseudonyms, raking weights and attribute values with small cells
    suppressed. A cell is a combination of all of an audience's attribute values; a
    member whose combination fewer than ``min_cell_size`` members share is exported
    with every attribute suppressed (null)."""
    frame = participants.frame
    people, report = {}, {}
    for audience in scope.audiences:
        rows = frame[frame["audience_id"] == audience.id].sort_values("participant_id")
        ids = rows["participant_id"].to_numpy(dtype=np.int64)
        names = audience.attribute_names
        given = [attributes or {} for attributes in rows["attributes"]]
        values = pd.DataFrame(
            {name: pd.Series([a.get(name) for a in given], dtype=object) for name in names},
            index=pd.RangeIndex(len(ids)),
        )
        if names and len(ids):
            cells = pd.Series(list(zip(*(values[name] for name in names), strict=True)))
            sizes = cells.map(cells.value_counts())
            small = (sizes < min_cell_size).to_numpy()
            suppressed_cells = int(cells[small].nunique())
        else:
            small, suppressed_cells = np.zeros(len(ids), dtype=bool), 0
        attributes = {}
        for attribute in audience.attribute_schema:
            allowed = list(attribute["choices"])
            lookup = {value: i for i, value in enumerate(allowed)}
            codes = np.array([lookup.get(v, -1) for v in values[attribute["name"]]], dtype=np.int64)
            codes[small] = -1
            attributes[attribute["name"]] = (codes, pa.array(allowed, pa.string()))
        targets = audience.target_marginals if audience.kind == Audience.Kind.PUBLIC else {}
        if targets:
            weights, note = rake(values[list(targets)], targets)
        else:
            weights, note = np.ones(len(ids)), ""
        people[audience.id] = tables.People(
            ids=ids,
            pseudonyms=pa.array([pseudonym(key, int(pid)) for pid in ids], pa.string()),
            weights=weights,
            attributes=attributes,
        )
        report[audience.id] = AudiencePeople(
            ids=ids,
            attributes=values,
            weights=weights,
            weighted=bool(targets) and not note.startswith("not raked"),
            weighting_note=note,
            suppressed_cells=suppressed_cells,
            suppressed_participants=int(small.sum()),
        )
    return people, report


OPENAI_KINDS = {"preferences", "demonstrations", "qa"}


def _messages_of(prompt) -> list[dict]:
    return list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def _text_of(reply) -> str:
    return reply[0]["content"] if isinstance(reply, list) else reply


def _openai_record(kind: str) -> Callable[[dict], dict | None]:
    """Rows as OpenAI fine-tuning records: chat ``messages`` (SFT) or preference pairs."""
    if kind == "preferences":

        def record(row: dict) -> dict | None:
            if row["tie"]:
                return None
            return {
                "input": {"messages": _messages_of(row["prompt"])},
                "preferred_output": [{"role": "assistant", "content": _text_of(row["chosen"])}],
                "non_preferred_output": [
                    {"role": "assistant", "content": _text_of(row["rejected"])}
                ],
            }

        return record
    if kind == "demonstrations":
        return lambda row: {"messages": row["messages"]}
    return lambda row: {
        "messages": [
            {"role": "user", "content": row["question"]},
            {"role": "assistant", "content": row["answer"]},
        ]
    }


class _Reader:
    """Reads a campaign chunk by chunk into metric frames, and optionally release files."""

    def __init__(
        self,
        scope: selectors.Scope,
        *,
        people: dict[int, tables.People],
        frames: Frames,
        excluded: np.ndarray,
        conversational: bool,
        files_for: Callable[[selectors.AudienceInfo, str], files.TableFile | None] | None,
    ):
        self.scope = scope
        self.people = people
        self.frames = frames
        self.excluded = excluded
        self.files_for = files_for
        campaign = scope.campaign
        self.fmt = campaign.preference_format
        self.conversational = conversational
        self.pending_votes: list = []
        scale = campaign.rating_scale
        self.midpoint = (scale[0] + scale[1]) / 2 if scale else None

    def run(self, item_ids: np.ndarray, *, chunk_items: int, progress: Progress) -> None:
        pause = float(os.environ.get(PAUSE_ENV) or 0)
        done = 0
        for chunk in selectors.item_chunks(
            campaign=self.scope.campaign, item_ids=item_ids, chunk_items=chunk_items
        ):
            items = tables.items_from_chunk(chunk)
            self.frames.add_items(items, chunk)
            judgements = selectors.judgements_for_chunk(self.scope, chunk, self.excluded)
            audience_ids = judgements.column("audience_id").to_numpy()
            for audience in self.scope.audiences:
                rows = np.flatnonzero(audience_ids == audience.id)
                if len(rows):
                    part = judgements.slice(int(rows[0]), len(rows))
                    self._audience_chunk(audience, part, items)
            self._write_votes(items)
            done += len(chunk.ids)
            progress(done / max(len(item_ids), 1), f"Read {done:,} of {len(item_ids):,} items.")
            if pause:
                time.sleep(pause)

    def _write_votes(self, items: tables.Items) -> None:
        """Soft labels for the chunk's items, every audience in one pass."""
        if not self.pending_votes:
            return
        pending, self.pending_votes = self.pending_votes, []
        votes = pd.DataFrame(
            {
                "item_id": np.concatenate([p[2] for p in pending]),
                "audience": np.concatenate([np.full(len(p[2]), p[0].id) for p in pending]),
                "choice": np.concatenate([p[3] for p in pending]),
            }
        )
        present = np.unique(items.positions(votes["item_id"].to_numpy()))
        sizes = np.diff(items.candidate_offsets)[present]
        candidates = (
            list(range(int(sizes[0])))
            if (sizes == sizes[0]).all()
            else {int(items.ids[p]): list(range(int(sizes[i]))) for i, p in enumerate(present)}
        )
        distribution = vote_distribution(votes, candidates=candidates, tie=tables.TIE_VOTE)
        for audience, sink, _, _ in pending:
            mine = distribution[distribution["audience"] == audience.id]
            scope = self._table_scope(audience)
            sink.write(tables.votes_table(scope, items, mine.reset_index(drop=True)))

    def _table_scope(self, audience) -> tables.Scope:
        campaign = self.scope.campaign
        return tables.Scope(
            audience=audience.slug,
            competence=campaign.competence,
            transience=campaign.transience,
            conversational=self.conversational,
            episodic=campaign.is_episodic,
        )

    def _file(self, audience, kind: str):
        return self.files_for(audience, kind) if self.files_for else None

    def _audience_chunk(self, audience, part: pa.Table, items: tables.Items) -> None:
        campaign = self.scope.campaign
        frames = self.frames
        item_ids = part.column("item_id").to_numpy()
        person_ids = part.column("participant_id").to_numpy()
        frames.add_responses(audience.id, item_ids, person_ids)
        people = self.people[audience.id]
        scope = self._table_scope(audience)
        if campaign.item_kind == Campaign.ItemKind.DEMONSTRATION:
            frames.texts[audience.id].extend(part.column("text").to_pylist())
            if sink := self._file(audience, "demonstrations"):
                sink.write(tables.demonstration_table(scope, part, items, people))
            return
        if campaign.item_kind == Campaign.ItemKind.QA:
            if sink := self._file(audience, "qa"):
                sink.write(tables.qa_table(scope, part, items, people))
            return
        item_pos = items.positions(item_ids)
        votes = tables.top_votes(part, items, item_pos, self.fmt)
        frames.add_votes(audience.id, item_ids, person_ids, votes)
        pairs = tables.preference_pairs(part, items, item_pos, self.fmt)
        frames.add_source_pairs(audience.id, tables.source_pair_counts(items, item_pos, pairs))
        if self.fmt == Campaign.PreferenceFormat.RANKING:
            ranks = tables.ranks_long(part, items, item_pos)
            frames.add_ranks(
                audience.id,
                item_ids[ranks.row],
                ranks.candidate,
                person_ids[ranks.row],
                ranks.rating,
            )
        ratings = None
        if part.column("ratings").null_count < part.num_rows:
            ratings = tables.ratings_long(part, items, item_pos)
            frames.add_ratings(
                audience.id,
                item_ids[ratings.row],
                ratings.candidate,
                person_ids[ratings.row],
                ratings.rating,
            )
        if sink := self._file(audience, "preferences"):
            sink.write(tables.preference_table(scope, part, items, people, pairs, item_pos))
        if sink := self._file(audience, "preference_votes"):
            self.pending_votes.append((audience, sink, item_ids, votes))
        sink = self._file(audience, "ratings_kto")
        if ratings is not None and self.midpoint is not None and sink:
            sink.write(tables.kto_table(scope, part, items, people, ratings, self.midpoint))


def _scope_for(
    campaign: Campaign,
    *,
    audience_slugs: list[str] | None,
    snapshot_at=None,
    options: dict | None = None,
) -> selectors.Scope:
    options = {**DEFAULT_OPTIONS, **(options or {})}
    return selectors.Scope(
        campaign=campaign,
        audiences=tuple(selectors.scope_audiences(campaign=campaign, slugs=audience_slugs)),
        snapshot_at=snapshot_at,
        exclude_failed_attention=options["exclude_failed_attention"],
        attention_failures_allowed=options["attention_failures_allowed"],
    )


def _read(
    scope: selectors.Scope,
    *,
    key: str,
    options: dict,
    progress: Progress,
    files_for=None,
) -> tuple[Frames, selectors.Participants, dict]:
    """The one pass over a campaign's data that both releases and metrics make."""
    campaign = scope.campaign
    participants = selectors.participants_in_scope(scope)
    people, report = _people(scope, participants, key=key, min_cell_size=options["min_cell_size"])
    item_ids = selectors.ordinary_item_ids(campaign=campaign)
    totals = selectors.response_totals(scope, participants.excluded_ids)
    per_item = totals["responses"] / max(len(item_ids), 1)
    chunk_items = max(1, int(options["batch_rows"] / max(per_item, 1.0)))
    frames = Frames(
        item_kind=campaign.item_kind,
        preference_format=campaign.preference_format,
        rating_scale=campaign.rating_scale,
        audiences=list(scope.audiences),
        people=report,
        item_ids=item_ids,
    )
    reader = _Reader(
        scope,
        people=people,
        frames=frames,
        excluded=participants.excluded_ids,
        conversational=selectors.campaign_has_messages(campaign=campaign),
        files_for=files_for,
    )
    reader.run(item_ids, chunk_items=chunk_items, progress=progress)
    return frames, participants, totals


def campaign_metrics(
    *,
    campaign: Campaign,
    audiences: list[str] | None = None,
    snapshot_at=None,
    options: dict | None = None,
    progress: Progress | None = None,
) -> dict:
    """Every coverage, diversity, agreement and pluralism metric of a campaign.

    Releases write exactly this into metrics.json; the coverage dashboard
    calls it too, so the numbers never differ. Counts only live, consented
    responses of participants who passed the attention checks (per `options`),
    as a release does.
    """
    options = {**DEFAULT_OPTIONS, **(options or {})}
    scope = _scope_for(campaign, audience_slugs=audiences, snapshot_at=snapshot_at, options=options)
    frames, _, _ = _read(
        scope,
        key="00" * 32,
        options=options,
        progress=progress or (lambda fraction, message: None),
    )
    return campaign_metrics_from_frames(frames, min_cell_size=options["min_cell_size"])


def release_write(*, job: ExportJob, directory: Path, progress: Progress) -> dict:
    """Write the job's release into ``directory`` (which must be empty); return a summary."""
    campaign = job.campaign
    options = {**DEFAULT_OPTIONS, **job.options}
    slugs = [audience.slug for audience in job.audiences.order_by("slug")]
    scope = _scope_for(
        campaign, audience_slugs=slugs or None, snapshot_at=job.snapshot_at, options=options
    )
    sinks: dict[tuple[str, str], files.TableFile] = {}

    def files_for(audience, kind: str) -> files.TableFile | None:
        if kind not in job.kinds:
            return None
        if (audience.slug, kind) not in sinks:
            sinks[(audience.slug, kind)] = files.TableFile(
                directory,
                f"{audience.slug}/{kind}",
                jsonl="jsonl" in job.formats,
                openai=_openai_record(kind)
                if "openai" in job.formats and kind in OPENAI_KINDS
                else None,
            )
        return sinks[(audience.slug, kind)]

    progress(0.01, "Reading participants.")
    frames, participants, totals = _read(
        scope,
        key=job.pseudonym_key,
        options=options,
        progress=lambda fraction, message: progress(0.02 + 0.83 * fraction, message),
        files_for=files_for,
    )
    for sink in sinks.values():
        sink.close()
    progress(0.86, "Computing metrics.")
    metrics = campaign_metrics_from_frames(frames, min_cell_size=options["min_cell_size"])
    previous = (
        Release.objects.filter(campaign=campaign, version__lt=job.version)
        .order_by("-version")
        .first()
    )
    counts = _counts(job, scope, frames, participants, totals, sinks, previous)
    metrics_doc = {
        "campaign": campaign.slug,
        "version": job.version,
        "counts": counts,
        "metrics": metrics,
    }
    progress(0.9, "Drawing plots.")
    plot_names = plots.draw_all(directory / "plots", metrics=metrics, scope=scope)
    files.write_json(directory / "metrics.json", metrics_doc)
    data_files = sorted(path for sink in sinks.values() for path in sink.paths)
    configs = [
        {
            "name": f"{audience}-{kind}".replace("_", "-"),
            "path": f"{audience}/{kind}.parquet",
            "rows": sinks[(audience, kind)].rows,
            "audience": audience,
            "kind": kind,
        }
        for (audience, kind) in sorted(sinks)
        if sinks[(audience, kind)].rows
    ]
    progress(0.93, "Writing the dataset card.")
    (directory / "README.md").write_text(
        card.render(
            job=job,
            scope=scope,
            configs=configs,
            counts=counts,
            metrics=metrics,
            plots=plot_names,
            conversational=selectors.campaign_has_messages(campaign=campaign),
        ),
        encoding="utf-8",
    )
    names = ["README.md", "metrics.json", *data_files, *[f"plots/{p}" for p in plot_names]]
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
        "campaign": campaign.slug,
        "version": job.version,
        "parameters": {
            "audiences": [audience.slug for audience in scope.audiences],
            "kinds": job.kinds,
            "formats": job.formats,
            "options": options,
            "snapshot_at": job.snapshot_at.isoformat(),
        },
        "files": entries,
        "built_at": timezone.now().isoformat(timespec="seconds"),
    }
    files.write_json(directory / "manifest.json", manifest)
    progress(0.96, "Zipping.")
    zip_name = f"{campaign.slug}-v{job.version}.zip"
    files.write_zip(
        directory,
        directory / zip_name,
        prefix=f"{campaign.slug}-v{job.version}",
        names=[*names, "manifest.json"],
    )
    progress(1.0, "Done.")
    return {
        "files": entries,
        "counts": counts,
        "size_bytes": sum(entry["bytes"] for entry in entries),
        "zip_name": zip_name,
        "zip_bytes": (directory / zip_name).stat().st_size,
        "audience_ids": [audience.id for audience in scope.audiences],
    }


def _counts(job, scope, frames, participants, totals, sinks, previous) -> dict:
    responses = frames.responses()
    per_audience = {}
    for audience in scope.audiences:
        mine = responses[responses["audience_id"] == audience.id]
        person = frames.people[audience.id]
        per_audience[audience.slug] = {
            "judgements": len(mine),
            "items": int(mine["item_id"].nunique()),
            "participants": int(mine["participant_id"].nunique()),
            "suppressed_cells": person.suppressed_cells,
            "suppressed_participants": person.suppressed_participants,
            "rows": {
                kind: sinks[(audience.slug, kind)].rows
                for kind in job.kinds
                if (audience.slug, kind) in sinks
            },
        }
    return {
        "items": len(frames.item_ids),
        "judgements": len(responses),
        "participants": int(responses["participant_id"].nunique()),
        "first_response_at": totals["first"].isoformat() if totals["first"] else None,
        "last_response_at": totals["last"].isoformat() if totals["last"] else None,
        "excluded_unconsented_participants": participants.unconsented,
        "excluded_failed_attention_participants": participants.failed_attention,
        "withdrawn_participants_total": selectors.withdrawn_participants(
            campaign=scope.campaign, since=None
        ),
        "withdrawn_since_previous": selectors.withdrawn_participants(
            campaign=scope.campaign, since=previous.snapshot_at if previous else None
        ),
        "previous_version": previous.version if previous else None,
        "audiences": per_audience,
    }
