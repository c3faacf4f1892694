"""Building a release, and the per-campaign metrics, in one pass over the campaign.

The same job always gives the same bytes: rows come in a fixed order (item
id, then response id), the pseudonym key and the data snapshot are stored on
the job, and the writers' options are fixed (see `aggregation.release.files`).
Only manifest.json's ``built_at`` and the zip that contains it change
(`tests/aggregation/test_release_bytes.py` pins the rest).

A build is one pass over the campaign, in three threads: one fetches the next
chunk from PostgreSQL (`selectors.chunks`), this one builds each registered
dataset's Arrow table for the chunk (`aggregation.release.datasets`) and counts
what the metrics need (`tally.Tally`: counts per item, audience and candidate,
never one row per judgement), and one writes and compresses the files
(`files.Background`). Each file is still written by one thread in chunk order,
so the bytes do not depend on timing. The metrics are computed from the counts
by `aggregation.metrics.document`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from aggregation import selectors
from aggregation.metrics import METRIC_PARTS, metrics_document
from aggregation.models import DEFAULT_OPTIONS, ExportJob, Release
from aggregation.release import card, datasets, files, kinds, plots, privacy, splits, tables
from aggregation.release.manifest import manifest_write, release_configs, release_counts
from aggregation.release.tally import PublishedPeople, Tally
from collection.models import Campaign

# Tests only: seconds to sleep after each chunk, so a worker can be killed mid-build.
PAUSE_ENV = "PLURALIGN_RELEASE_PAUSE_SECONDS"

Progress = Callable[[float, str], None]


class _Reader:
    """Reads a campaign chunk by chunk into a metrics tally, and optionally release files."""

    def __init__(
        self,
        selection: selectors.ReleaseSelection,
        *,
        people: dict[int, tables.PeopleColumns],
        tally: Tally,
        excluded: np.ndarray,
        conversational: bool,
        files_for: Callable[..., files.TableFile | None] | None,
        views: datasets.Views | None = None,
    ):
        self.selection = selection
        self.views = views
        self.people = people
        self.tally = tally
        self.excluded = excluded
        self.files_for = files_for
        campaign = selection.campaign
        self.kind = kinds.get(campaign.item_kind)
        self.datasets = self.kind.datasets
        self.fmt = campaign.preference_format
        self.conversational = conversational
        scale = campaign.rating_scale
        self.midpoint = (scale[0] + scale[1]) / 2 if scale else None
        self.rubric = campaign.rubric_names

    def run(self, item_ids: np.ndarray, *, chunk_items: int, progress: Progress) -> None:
        pause = float(os.environ.get(PAUSE_ENV) or 0)
        chunks = selectors.chunks(
            self.selection,
            read=self.kind.read(self.selection.campaign),
            item_ids=item_ids,
            chunk_items=chunk_items,
            excluded=self.excluded,
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
        turn_audiences = None if chunk.turns is None else chunk.turns.column("audience_id")
        for a, audience in enumerate(self.selection.audiences):
            first, last = np.searchsorted(audience_ids, [audience.id, audience.id + 1])
            if last > first:
                part = judgements.slice(int(first), int(last - first))
                turns = None
                if turn_audiences is not None:
                    low, high = np.searchsorted(
                        turn_audiences.to_numpy(), [audience.id, audience.id + 1]
                    )
                    turns = chunk.turns.slice(int(low), int(high - low))
                self._audience_chunk(a, audience, part, items, chunk.start, turns)
        done = chunk.start + len(items)
        progress(done / max(total, 1), f"Read {done:,} of {total:,} items.")

    def _table_context(self, audience) -> tables.TableContext:
        campaign = self.selection.campaign
        return tables.TableContext(
            audience=audience.slug,
            competence=campaign.competence,
            transience=campaign.transience,
            conversational=self.conversational,
            episodic=campaign.is_episodic,
        )

    def _audience_chunk(
        self, a: int, audience, part: pa.Table, items, start: int, turns: pa.Table | None = None
    ) -> None:
        """One audience's judgements of one chunk of items (``start``: the chunk's first
        item position in the campaign): counted, and written by each dataset asked for."""
        people = self.people[audience.id]
        item_pos = items.positions(part.column("item_id").to_numpy())
        self.tally.add_judgements(
            a,
            start,
            len(items),
            item_pos,
            people.positions(part.column("participant_id").to_numpy()),
        )
        chunk_part = datasets.Part(
            audience=a,
            start=start,
            context=self._table_context(audience),
            judgements=part,
            items=items,
            item_pos=item_pos,
            people=people,
            preference_format=self.fmt,
            midpoint=self.midpoint,
            rubric=self.rubric,
            turns=turns,
            audience_kind=audience.kind,
            views=self.views,
        )
        for dataset in self.datasets:
            dataset.count(chunk_part, self.tally)
        for dataset in self.datasets:
            if not self.files_for or (dataset.splits and not self.views.split_views):
                continue
            first = dataset.splits[0] if dataset.splits else ""
            if self.files_for(audience, dataset.name, first) is None:
                continue
            built = dataset.build(chunk_part)
            if dataset.splits and built is not None:
                for split in dataset.splits:
                    self.files_for(audience, dataset.name, split).write(built[split])
            elif built is not None:
                self.files_for(audience, dataset.name).write(built)

    def finish(self) -> None:
        """The datasets written once per audience, after the pass (`Dataset.finish`)."""
        if not self.files_for:
            return
        for a, audience in enumerate(self.selection.audiences):
            final = datasets.Final(
                audience=a,
                audience_kind=audience.kind,
                context=self._table_context(audience),
                people=self.people[audience.id],
                judgements=self.tally.load[a],
                views=self.views,
            )
            for dataset in self.datasets:
                if dataset.finish is None:
                    continue
                sink = self.files_for(audience, dataset.name)
                if sink is not None and (table := dataset.finish(final)) is not None:
                    sink.write(table)


def selection_for(
    campaign: Campaign,
    *,
    audience_slugs: list[str] | None,
    snapshot_at=None,
    options: dict | None = None,
) -> selectors.ReleaseSelection:
    options = {**DEFAULT_OPTIONS, **(options or {})}
    return selectors.ReleaseSelection(
        campaign=campaign,
        audiences=tuple(selectors.selection_audiences(campaign=campaign, slugs=audience_slugs)),
        snapshot_at=snapshot_at,
        exclude_failed_attention=options["exclude_failed_attention"],
        attention_failures_allowed=options["attention_failures_allowed"],
    )


def _tally_for(
    selection: selectors.ReleaseSelection, report: dict[int, PublishedPeople], item_ids: np.ndarray
) -> Tally:
    campaign = selection.campaign
    return Tally(
        item_kind=campaign.item_kind,
        preference_format=campaign.preference_format,
        rating_scale=campaign.rating_scale,
        audiences=list(selection.audiences),
        people=report,
        item_ids=item_ids,
        rubric=campaign.rubric_names,
    )


def _read(
    selection: selectors.ReleaseSelection,
    *,
    key: str | None,
    options: dict,
    progress: Progress,
    conversational: bool,
    files_for=None,
) -> tuple[Tally, selectors.Participants]:
    """The one pass over a campaign's data that both releases and metrics make
    (``conversational``: `selectors.campaign_has_messages`, which the caller has)."""
    campaign = selection.campaign
    participants = selectors.participants_in_selection(selection)
    people, report = privacy.audience_people(
        selection,
        participants,
        key=key,
        min_cell_size=options["min_cell_size"],
        release=key is not None,  # only a release pseudonymises, so only it has a key
    )
    item_ids = selectors.ordinary_item_ids(campaign=campaign)
    per_item = participants.judgements / max(len(item_ids), 1)
    chunk_items = max(1, int(options["batch_rows"] / max(per_item, 1.0)))
    tally = _tally_for(selection, report, item_ids)
    views = None
    if files_for is not None:
        views = datasets.Views.from_options(options, item_ids, judgements=participants.judgements)
        views.snapshot_at = selection.snapshot_at
        for a, audience in enumerate(selection.audiences):
            mine = people[audience.id]
            mine.held_out = splits.participants_held_out(
                mine.ids,
                audience_id=audience.id,
                seed=options["split_seed"],
                test_percent=options["test_percent"],
            )
            if views.split_views:
                views.contexts[a] = selectors.heldout_context_keys(
                    selection,
                    audience_id=audience.id,
                    participant_ids=mine.ids[mine.held_out],
                    m=options["context_judgements"],
                )
    reader = _Reader(
        selection,
        people=people,
        tally=tally,
        excluded=participants.excluded_ids,
        conversational=conversational,
        files_for=files_for,
        views=views,
    )
    reader.run(item_ids, chunk_items=chunk_items, progress=progress)
    reader.finish()
    return tally, participants


def _coverage_tally(selection: selectors.ReleaseSelection, *, options: dict) -> Tally:
    """A tally with only the coverage counts, aggregated by PostgreSQL (no judgement is read)."""
    participants = selectors.participants_in_selection(selection)
    _, report = privacy.audience_people(
        selection, participants, key=None, min_cell_size=options["min_cell_size"]
    )
    item_ids = selectors.ordinary_item_ids(campaign=selection.campaign)
    tally = _tally_for(selection, report, item_ids)
    per_item = selectors.judgements_per_item(selection, participants.excluded_ids)
    frame = participants.frame
    for a, audience in enumerate(selection.audiences):
        ids, counts = per_item.get(audience.id, (np.zeros(0, np.int64),) * 2)
        known = np.isin(ids, item_ids)
        tally.judgements[a, np.searchsorted(item_ids, ids[known])] = counts[known]
        mine = frame[frame["audience_id"] == audience.id]
        people = report[audience.id]
        tally.load[a][np.searchsorted(people.ids, mine["participant_id"].to_numpy())] = mine[
            "judgements"
        ].to_numpy()
    return tally


def _metrics(tally: Tally, options: dict, *, parts: frozenset[str] = METRIC_PARTS) -> dict:
    return metrics_document(
        tally,
        min_cell_size=options["min_cell_size"],
        parts=parts,
        seed=options["seed"],
        min_pairable_units=options["min_pairable_units"],
        kind_metrics=kinds.get(tally.item_kind).metrics,
    )


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
    selection = selection_for(
        campaign, audience_slugs=audiences, snapshot_at=snapshot_at, options=options
    )
    if parts <= {"coverage"}:
        tally = _coverage_tally(selection, options=options)
    else:
        tally, _ = _read(
            selection,
            key=None,
            options=options,
            progress=progress or (lambda fraction, message: None),
            conversational=selectors.campaign_has_messages(campaign=campaign),
        )
    return _metrics(tally, options, parts=parts)


@files.arrow_memory_returned()
def release_write(*, job: ExportJob, directory: Path, progress: Progress) -> dict:
    """Write the job's release into ``directory`` (which must be empty); return a summary.

    The steps: read the campaign once, writing each dataset's files and counting for the
    metrics (`_read`); metrics.json, plots and the card from the counts (`_write_reports`);
    the manifest of every file (`_manifest`); the zip."""
    campaign = job.campaign
    options = {**DEFAULT_OPTIONS, **job.options}
    slugs = [audience.slug for audience in job.audiences.order_by("slug")]
    selection = selection_for(
        campaign, audience_slugs=slugs or None, snapshot_at=job.snapshot_at, options=options
    )
    # (audience slug, dataset, split or ""): the file.
    sinks: dict[tuple[str, str, str], files.TableFile] = {}
    # Two writing threads: the files every release had, and the pluralistic views (which
    # write the strict pairs again, split). Each file is still written by one thread in
    # order, so the bytes do not depend on timing.
    backgrounds = (files.Background(), files.Background())
    progress(0.01, "Reading participants.")
    conversational = selectors.campaign_has_messages(campaign=campaign)
    try:
        tally, participants = _read(
            selection,
            key=job.pseudonym_key,
            options=options,
            progress=lambda fraction, message: progress(0.02 + 0.83 * fraction, message),
            conversational=conversational,
            files_for=_files_opener(job, directory, sinks, backgrounds),
        )
        for sink in sinks.values():
            sink.close()
        # The last writes finish in the background while the metrics and plots are made.
        counts, plot_names = _write_reports(
            job,
            directory,
            selection=selection,
            tally=tally,
            participants=participants,
            sinks=sinks,
            options=options,
            conversational=conversational,
            progress=progress,
        )
        for background in backgrounds:
            background.finish()
    finally:
        for background in backgrounds:
            background.close()
    data_files = sorted(path for sink in sinks.values() for path in sink.paths)
    names = ["README.md", "metrics.json", *data_files, *[f"plots/{p}" for p in plot_names]]
    entries = manifest_write(job, directory, selection=selection, options=options, names=names)
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
        "audience_ids": [audience.id for audience in selection.audiences],
    }


def _files_opener(
    job: ExportJob,
    directory: Path,
    sinks: dict[tuple[str, str, str], files.TableFile],
    backgrounds: tuple[files.Background, files.Background],
) -> Callable[..., files.TableFile | None]:
    """Opens (once, into ``sinks``) the file of an audience and dataset the job asks for:
    ``<audience>/<dataset>``, or ``<audience>/<dataset>/<split>`` for one split of it."""

    def files_for(audience, kind: str, split: str = "") -> files.TableFile | None:
        if kind not in job.kinds:
            return None
        if (audience.slug, kind, split) not in sinks:
            dataset = kinds.dataset(kind)
            sinks[(audience.slug, kind, split)] = files.TableFile(
                directory,
                f"{audience.slug}/{kind}/{split}" if split else f"{audience.slug}/{kind}",
                jsonl="jsonl" in job.formats or dataset.jsonl_record is not None,
                jsonl_record=dataset.jsonl_record,
                openai=dataset.openai if "openai" in job.formats else None,
                background=backgrounds[bool(dataset.splits)],
            )
        return sinks[(audience.slug, kind, split)]

    return files_for


def _write_reports(
    job: ExportJob,
    directory: Path,
    *,
    selection: selectors.ReleaseSelection,
    tally: Tally,
    participants: selectors.Participants,
    sinks: dict[tuple[str, str], files.TableFile],
    options: dict,
    conversational: bool,
    progress: Progress,
) -> tuple[dict, list[str]]:
    """metrics.json, the plots and the dataset card; returns the counts and the plots."""
    campaign = job.campaign
    progress(0.86, "Computing metrics.")
    metrics = _metrics(tally, options)
    previous = (
        Release.objects.filter(campaign=campaign, version__lt=job.version)
        .order_by("-version")
        .first()
    )
    counts = release_counts(job, selection, tally, participants, sinks, previous)
    metrics_doc = {
        "campaign": campaign.slug,
        "version": job.version,
        "counts": counts,
        "metrics": metrics,
    }
    progress(0.9, "Drawing plots.")
    plot_names = plots.draw_all(
        directory / "plots", metrics=metrics, extra=kinds.get(campaign.item_kind).plots
    )
    files.write_json(directory / "metrics.json", metrics_doc)
    configs = release_configs(sinks)
    progress(0.93, "Writing the dataset card.")
    (directory / "README.md").write_text(
        card.render(
            job=job,
            selection=selection,
            configs=configs,
            counts=counts,
            metrics=metrics,
            plots=plot_names,
            conversational=conversational,
        ),
        encoding="utf-8",
    )
    return counts, plot_names
