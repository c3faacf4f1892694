"""The dataset card's "Train on it" section: the DPO line per audience with its strict
and tied pairs, each dataset's recipe, and the split views (or why they are left out).
Split out of `card.py` for size; `card.render` calls `_training`."""

from __future__ import annotations

from aggregation.release import kinds, splits
from aggregation.release.card_text import _code

DPO_AND_TIES = (("preferences", "ties"), ("conversation_preferences", "conversation_ties"))


def _training(job, configs: list[dict]) -> list[str]:
    """How to train on the release: a recipe per view, the ties left out of DPO, the
    splits' seed."""
    by_kind: dict[str, list[dict]] = {}
    for config in configs:
        by_kind.setdefault(config["kind"], []).append(config)
    for dpo, tied in DPO_AND_TIES:
        if dpo in by_kind or tied in by_kind:
            break
    else:
        return []
    name = dpo.replace("_", "-")
    lines = [
        "## Train on it",
        "",
        f"**DPO per audience (TRL)**: each `<audience>-{name}` config holds only pairs "
        "with a winner, in TRL's preference format, so it trains as it is: "
        '`DPOTrainer(model=..., train_dataset=load_dataset(path, name="<audience>-'
        f'{name}", split="train"), ...)`, one model (or adapter) per audience.',
        "",
    ]
    rows = {
        (config["kind"], config["audience"]): config["rows"]
        for config in by_kind.get(dpo, []) + by_kind.get(tied, [])
    }
    for audience in sorted({audience for _, audience in rows}):
        ties = rows.get((tied, audience), 0)
        lines.append(
            f"- {_code(audience)}: {rows.get((dpo, audience), 0):,} strict pairs; "
            f"{ties:,} tied pairs left out of every DPO config"
            + (f" (in {_code(audience + '-' + tied.replace('_', '-'))})." if ties else ".")
        )
    lines.append("")
    for dataset in kinds.get(job.campaign.item_kind).datasets:
        if dataset.recipe and dataset.name in by_kind:
            lines += [dataset.recipe, ""]
    if dpo != "preferences":  # the split views are of preference items only
        return lines
    split_names = {d.name for d in kinds.get(job.campaign.item_kind).datasets if d.splits}
    if not split_names & by_kind.keys():
        return [*lines, *_no_split_views(job), ""]
    lines += [
        "Splits are fixed by a hash of the export's `split_seed` "
        f"({job.option('split_seed')}) and internal ids, {job.option('test_percent')}% "
        "on the test side (the seed is in `manifest.json`'s parameters): "
        "`-preferences-by-participant` puts each person wholly in `train` or `test`, "
        "`-preferences-by-item` each item, and `-heldout-participants` gives the "
        "by-participant test side's people with a `context` split (the pairs of each "
        f"person's first {job.option('context_judgements')} judgements by submission time) "
        "and a `query` split (the rest). `participants` lists each person's side. A split "
        "with no rows is not declared.",
        "",
    ]
    return lines


def _no_split_views(job) -> list[str]:
    """Why a release has no split views, and how to get them."""
    if job.option("split_views") is False:
        why = "the export asked for none (`split_views: false`)"
    else:
        why = (
            f"it holds more than {splits.SPLIT_VIEWS_AUTO_LIMIT:,} judgements, above which "
            "they are built only when asked for, since they write the strict pairs again, "
            "once per split"
        )
    return [
        "The split views (`-preferences-by-participant`, `-preferences-by-item`, "
        f"`-heldout-participants`) are not in this release: {why}. To get them, build the "
        'release with the export option `"split_views": true` (the export API\'s `options`, '
        "or `manage.py export_release --split-views`). Meanwhile `participants`' `split` "
        "column gives each person's side of the split by participant (seed "
        f"{job.option('split_seed')}, {job.option('test_percent')}% test), so "
        "`preferences` splits by person with a join on `participant_id`.",
    ]
