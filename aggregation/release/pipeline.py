"""Export jobs, release building and the per-campaign metrics.

A release is built into a hidden folder beside its target, every file is
fsynced, and the folder is published with one ``os.rename``; only then is the
`Release` row written. A worker killed on the way leaves a hidden partial
folder (cleared by the next run of the job) and no release. A job holds a
PostgreSQL advisory lock while it builds, so a redelivered task never builds
the same release twice at once, and a job whose lock is free while it says
"running" is known to be abandoned and may be run again. While it builds, the
job's heartbeat shows its worker is alive; one that stops answering is requeued
by itself (`aggregation.jobs`).

The same job always gives the same bytes: rows come in a fixed order (item
id, then response id), the pseudonym key and the data snapshot are stored on
the job, and the writers' options are fixed (see `aggregation.exporters.files`).
Only manifest.json's ``built_at`` and the zip that contains it change.

A build is one pass over the campaign, in three threads: one fetches the next
chunk from PostgreSQL (`selectors.chunks`), this one builds the chunk's Arrow
tables and counts what the metrics need (`exporters.tally.Tally`: counts per
item, audience and candidate, never one row per judgement), and one writes
and compresses the files (`exporters.files.Background`). Each file is still
written by one thread in chunk order, so the bytes do not depend on timing.
"""

from __future__ import annotations

import contextlib
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
from django.db.models.functions import Now
from django.utils import timezone

from aggregation import card, jobs, plots, selectors
from aggregation.exporters import files, privacy, tables
from aggregation.exporters.tally import (
    METRIC_PARTS,
    AudiencePeople,
    Tally,
    metrics_document,
    rake,
)
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
LOCK_NAMESPACE = jobs.LOCK_NAMESPACE
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
        if not jobs.export_job_stopped_answering(job_id=job.pk):
            raise Conflict("This export is running.", field="status")
        jobs.export_job_end_stale_session(job_id=job.pk)
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.QUEUED,
            progress=0.0,
            message="Waiting for a worker.",
            error="",
            worker="",
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
            job.worker = jobs.holder_name()
            job.save()
            ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=Now())
        with jobs.Heartbeat(job_id=job.pk, attempt=job.attempts, worker=job.worker):
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


def pseudonym(key: str, participant_id: int, audience_id: int) -> str:
    """HMAC-SHA256 of (audience id, participant id) under the release's key (first 20 hex
    digits).

    Keyed per audience as well as per release: one person can be in two audiences of a
    release that ask the same attribute, suppressed in one and published in the other,
    and a shared pseudonym would carry the published value across to the suppressed rows.
    """
    message = f"{audience_id}:{participant_id}".encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()[:20]


def _people(
    scope: selectors.Scope,
    participants: selectors.Participants,
    *,
    key: str | None,
    min_cell_size: int,
    release: bool = False,
) -> tuple[dict[int, tables.People], dict[int, AudiencePeople]]:
    """Per audience: pseudonyms (none without a ``key``: metrics need none), raking
    weights and attribute values with small cells suppressed. A cell is a combination
    of all of an audience's attribute values; a member whose combination fewer than
    ``min_cell_size`` members share is exported with every attribute suppressed (null),
    and so are the members of the further cells `privacy.suppressed_cells` picks so that
    the published cells do not imply a suppressed member's values. In a ``release``, a
    dyadic audience's one member is always suppressed, whatever ``min_cell_size`` says.

    Weights and every attribute count are computed from the values as published, never
    the true ones: raking weights are a product of one factor per attribute value, so
    weights raked on true values give a suppressed member's values back to anyone who
    fits those factors on the published rows, and counts over every member less the
    published rows' counts give the suppressed members' values. Suppressed members are
    left out of every margin, so they all keep one weight, the same for each (their
    share of the weight stays their share of the sample)."""
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
        if release and audience.kind == Audience.Kind.DYADIC:
            small = np.ones(len(ids), dtype=bool)
        elif names and len(ids):
            cells = pd.Series(list(zip(*(values[name] for name in names), strict=True)))
            hidden = privacy.suppressed_cells(
                cells.value_counts().to_dict(),
                choices=[attribute["choices"] for attribute in audience.attribute_schema],
                min_cell_size=min_cell_size,
            )
            small = cells.isin(hidden).to_numpy()
        else:
            small = np.zeros(len(ids), dtype=bool)
        published = values.copy()
        published.loc[small, :] = None
        attributes = {}
        for attribute in audience.attribute_schema:
            allowed = list(attribute["choices"])
            lookup = {value: i for i, value in enumerate(allowed)}
            codes = np.array(
                [lookup.get(v, -1) for v in published[attribute["name"]]], dtype=np.int64
            )
            attributes[attribute["name"]] = (codes, pa.array(allowed, pa.string()))
        targets = audience.target_marginals if audience.kind == Audience.Kind.PUBLIC else {}
        if targets:
            weights, note = rake(published[list(targets)], targets)
        else:
            weights, note = np.ones(len(ids)), ""
        people[audience.id] = tables.People(
            ids=ids,
            pseudonyms=pa.array(
                [pseudonym(key, int(pid), audience.id) for pid in ids]
                if key
                else [None] * len(ids),
                pa.string(),
            ),
            weights=weights,
            attributes=attributes,
        )
        report[audience.id] = AudiencePeople(
            ids=ids,
            attributes=published,
            weights=weights,
            weighted=bool(targets) and not note.startswith("not raked"),
            weighting_note=note,
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
    """Reads a campaign chunk by chunk into a metrics tally, and optionally release files."""

    def __init__(
        self,
        scope: selectors.Scope,
        *,
        people: dict[int, tables.People],
        tally: Tally,
        excluded: np.ndarray,
        conversational: bool,
        files_for: Callable[[selectors.AudienceInfo, str], files.TableFile | None] | None,
    ):
        self.scope = scope
        self.people = people
        self.tally = tally
        self.excluded = excluded
        self.files_for = files_for
        campaign = scope.campaign
        self.fmt = campaign.preference_format
        self.conversational = conversational
        scale = campaign.rating_scale
        self.midpoint = (scale[0] + scale[1]) / 2 if scale else None

    def run(self, item_ids: np.ndarray, *, chunk_items: int, progress: Progress) -> None:
        pause = float(os.environ.get(PAUSE_ENV) or 0)
        chunks = selectors.chunks(
            self.scope, item_ids=item_ids, chunk_items=chunk_items, excluded=self.excluded
        )
        # Closed on the way out, error or not, so the reading thread stops at once.
        with contextlib.closing(chunks):
            for chunk in chunks:
                self._chunk(chunk, progress=progress, total=len(item_ids))
                if pause:
                    time.sleep(pause)

    def _chunk(self, chunk: selectors.Chunk, *, progress: Progress, total: int) -> None:
        items = tables.items_from_chunk(chunk.items)
        self.tally.add_items(chunk.start, items)
        judgements = chunk.judgements
        audience_ids = judgements.column("audience_id").to_numpy()
        for a, audience in enumerate(self.scope.audiences):
            first, last = np.searchsorted(audience_ids, [audience.id, audience.id + 1])
            if last > first:
                part = judgements.slice(int(first), int(last - first))
                self._audience_chunk(a, audience, part, items, chunk.start)
        done = chunk.start + len(items)
        progress(done / max(total, 1), f"Read {done:,} of {total:,} items.")

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

    def _audience_chunk(self, a: int, audience, part: pa.Table, items, start: int) -> None:
        """One audience's judgements of one chunk of items (``start``: the chunk's first
        item position in the campaign)."""
        campaign = self.scope.campaign
        tally = self.tally
        people = self.people[audience.id]
        item_pos = items.positions(part.column("item_id").to_numpy())
        tally.add_judgements(
            a,
            start,
            len(items),
            item_pos,
            people.positions(part.column("participant_id").to_numpy()),
        )
        scope = self._table_scope(audience)
        if campaign.item_kind == Campaign.ItemKind.DEMONSTRATION:
            tally.add_texts(a, part.column("text").combine_chunks())
            if sink := self._file(audience, "demonstrations"):
                sink.write(tables.demonstration_table(scope, part, items, people))
            return
        if campaign.item_kind == Campaign.ItemKind.QA:
            if sink := self._file(audience, "qa"):
                sink.write(tables.qa_table(scope, part, items, people))
            return
        pairs = tables.preference_pairs(part, items, item_pos, self.fmt)
        votes = tables.top_votes(part, items, item_pos, self.fmt, pairs)
        vote_counts, ties = tables.vote_counts(items, item_pos, votes)
        tally.add_votes(a, start, vote_counts, ties)
        tally.add_source_pairs(a, tables.source_pair_counts(items, item_pos, pairs))
        if self.fmt == Campaign.PreferenceFormat.RANKING:
            ranks = tables.ranks_long(part, items, item_pos)
            tally.add_ranks(
                a, start, len(items), item_pos[ranks.row], ranks.candidate, ranks.rating
            )
        ratings = None
        if part.column("ratings").null_count < part.num_rows:
            ratings = tables.ratings_long(part, items, item_pos)
            tally.add_ratings(
                a, start, len(items), item_pos[ratings.row], ratings.candidate, ratings.rating
            )
        if sink := self._file(audience, "preferences"):
            sink.write(tables.preference_table(scope, part, items, people, pairs, item_pos))
        if sink := self._file(audience, "preference_votes"):
            sink.write(tables.votes_table(scope, items, vote_counts, ties))
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


def _tally_for(
    scope: selectors.Scope, report: dict[int, AudiencePeople], item_ids: np.ndarray
) -> Tally:
    campaign = scope.campaign
    return Tally(
        item_kind=campaign.item_kind,
        preference_format=campaign.preference_format,
        rating_scale=campaign.rating_scale,
        audiences=list(scope.audiences),
        people=report,
        item_ids=item_ids,
    )


def _read(
    scope: selectors.Scope,
    *,
    key: str | None,
    options: dict,
    progress: Progress,
    conversational: bool,
    files_for=None,
) -> tuple[Tally, selectors.Participants]:
    """The one pass over a campaign's data that both releases and metrics make
    (``conversational``: `selectors.campaign_has_messages`, which the caller has)."""
    campaign = scope.campaign
    participants = selectors.participants_in_scope(scope)
    people, report = _people(
        scope,
        participants,
        key=key,
        min_cell_size=options["min_cell_size"],
        release=key is not None,  # only a release pseudonymises, so only it has a key
    )
    item_ids = selectors.ordinary_item_ids(campaign=campaign)
    per_item = participants.judgements / max(len(item_ids), 1)
    chunk_items = max(1, int(options["batch_rows"] / max(per_item, 1.0)))
    tally = _tally_for(scope, report, item_ids)
    reader = _Reader(
        scope,
        people=people,
        tally=tally,
        excluded=participants.excluded_ids,
        conversational=conversational,
        files_for=files_for,
    )
    reader.run(item_ids, chunk_items=chunk_items, progress=progress)
    return tally, participants


def _coverage_tally(scope: selectors.Scope, *, options: dict) -> Tally:
    """A tally with only the coverage counts, aggregated by PostgreSQL (no judgement is read)."""
    participants = selectors.participants_in_scope(scope)
    _, report = _people(scope, participants, key=None, min_cell_size=options["min_cell_size"])
    item_ids = selectors.ordinary_item_ids(campaign=scope.campaign)
    tally = _tally_for(scope, report, item_ids)
    per_item = selectors.judgements_per_item(scope, participants.excluded_ids)
    frame = participants.frame
    for a, audience in enumerate(scope.audiences):
        ids, counts = per_item.get(audience.id, (np.zeros(0, np.int64),) * 2)
        known = np.isin(ids, item_ids)
        tally.judgements[a, np.searchsorted(item_ids, ids[known])] = counts[known]
        mine = frame[frame["audience_id"] == audience.id]
        people = report[audience.id]
        tally.load[a][np.searchsorted(people.ids, mine["participant_id"].to_numpy())] = mine[
            "judgements"
        ].to_numpy()
    return tally


def campaign_metrics(
    *,
    campaign: Campaign,
    audiences: list[str] | None = None,
    snapshot_at=None,
    options: dict | None = None,
    parts: set[str] | frozenset[str] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Every coverage, diversity, agreement and pluralism metric of a campaign.

    Releases write exactly this into metrics.json; the coverage dashboard
    calls it too, so the numbers never differ. Counts only live, consented
    responses of participants who passed the attention checks (per `options`),
    as a release does.

    ``parts`` picks groups of metrics ("coverage", "diversity", "agreement",
    "pluralism"; default all) and leaves the others out of the result.
    Coverage alone is counted by PostgreSQL without reading a judgement, so a
    dashboard can ask for it on every page view; the other parts read every
    judgement (in chunks, as a release does).
    """
    parts = METRIC_PARTS if parts is None else frozenset(parts)
    unknown = sorted(parts - METRIC_PARTS)
    if unknown:
        raise ValueError(f"unknown metric parts {unknown}; choose from {sorted(METRIC_PARTS)}")
    options = {**DEFAULT_OPTIONS, **(options or {})}
    scope = _scope_for(campaign, audience_slugs=audiences, snapshot_at=snapshot_at, options=options)
    if parts <= {"coverage"}:
        tally = _coverage_tally(scope, options=options)
    else:
        tally, _ = _read(
            scope,
            key=None,
            options=options,
            progress=progress or (lambda fraction, message: None),
            conversational=selectors.campaign_has_messages(campaign=campaign),
        )
    return metrics_document(tally, min_cell_size=options["min_cell_size"], parts=parts)


@files.arrow_memory_returned()
def release_write(*, job: ExportJob, directory: Path, progress: Progress) -> dict:
    """Write the job's release into ``directory`` (which must be empty); return a summary."""
    campaign = job.campaign
    options = {**DEFAULT_OPTIONS, **job.options}
    slugs = [audience.slug for audience in job.audiences.order_by("slug")]
    scope = _scope_for(
        campaign, audience_slugs=slugs or None, snapshot_at=job.snapshot_at, options=options
    )
    sinks: dict[tuple[str, str], files.TableFile] = {}
    background = files.Background()

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
                background=background,
            )
        return sinks[(audience.slug, kind)]

    progress(0.01, "Reading participants.")
    conversational = selectors.campaign_has_messages(campaign=campaign)
    try:
        tally, participants = _read(
            scope,
            key=job.pseudonym_key,
            options=options,
            progress=lambda fraction, message: progress(0.02 + 0.83 * fraction, message),
            conversational=conversational,
            files_for=files_for,
        )
        for sink in sinks.values():
            sink.close()
        # The last writes finish in the background while the metrics and plots are made.
        progress(0.86, "Computing metrics.")
        metrics = metrics_document(tally, min_cell_size=options["min_cell_size"])
        previous = (
            Release.objects.filter(campaign=campaign, version__lt=job.version)
            .order_by("-version")
            .first()
        )
        counts = _counts(job, scope, tally, participants, sinks, previous)
        metrics_doc = {
            "campaign": campaign.slug,
            "version": job.version,
            "counts": counts,
            "metrics": metrics,
        }
        progress(0.9, "Drawing plots.")
        plot_names = plots.draw_all(directory / "plots", metrics=metrics, scope=scope)
        files.write_json(directory / "metrics.json", metrics_doc)
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
                conversational=conversational,
            ),
            encoding="utf-8",
        )
        background.finish()
    finally:
        background.close()
    data_files = sorted(path for sink in sinks.values() for path in sink.paths)
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


def _counts(job, scope, tally: Tally, participants, sinks, previous) -> dict:
    summary = tally.summary()
    per_audience = {}
    for audience in scope.audiences:
        person = tally.people[audience.id]
        per_audience[audience.slug] = {
            **summary["audiences"][audience.slug],
            "suppressed_participants": person.suppressed_participants,
            "rows": {
                kind: sinks[(audience.slug, kind)].rows
                for kind in job.kinds
                if (audience.slug, kind) in sinks
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
            campaign=scope.campaign, since=None
        ),
        "withdrawn_since_previous": selectors.withdrawn_participants(
            campaign=scope.campaign, since=previous.snapshot_at if previous else None
        ),
        "previous_version": previous.version if previous else None,
        "audiences": per_audience,
    }
