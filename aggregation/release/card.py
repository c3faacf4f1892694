"""The dataset card: README.md with a YAML header that `datasets` reads.

The header's ``configs`` list names one config per audience and file kind
(``everyone-preferences`` → ``everyone/preferences.parquet``), so
``datasets.load_dataset(release_dir, name="everyone-preferences")`` works; a dataset with
splits declares a file per split (``everyone/preferences_by_participant/test.parquet``),
so ``split="test"`` works too.
Strings in the header are written as JSON strings, which YAML reads as is.

Everything a user typed (names, descriptions, attribute labels and values,
target values, item and candidate ids, model names, consent text) goes
through `_inline` or `_block`, which make it inert text for Markdown and for
the HTML that Markdown passes through: the Hub and GitHub render the card,
so a name holding ``<img onerror=…>`` or ``[x](javascript:…)`` would
otherwise run or link. Slugs and licence ids go in code spans (`_code`).
"""

from __future__ import annotations

from aggregation.release import kinds
from aggregation.release.card_text import (  # the card's own helpers, split out for size
    _block,
    _code,
    _count,
    _inline,
    _num,
    _pct,
    _q,
    _size_category,
)
from aggregation.release.card_training import _training
from collection import kinds as collection_kinds


def _header(job, campaign, configs: list[dict], license_id: str) -> list[str]:
    lines = [
        "---",
        f"pretty_name: {_q(f'{campaign.name} (v{job.version})')}",
        f"license: {_q(license_id)}",
        "tags:",
        *[f"- {_q(tag)}" for tag in ["pluralign", *kinds.get(campaign.item_kind).card_tags]],
        "size_categories:",
        f"- {_q(_size_category(sum(config['rows'] for config in configs)))}",
        "configs:",
    ]
    for config in configs:
        lines += [f"- config_name: {_q(config['name'])}", "  data_files:"]
        for split, path in config["files"]:
            lines += [f"  - split: {_q(split)}", f"    path: {_q(path)}"]
    return [*lines, "---", ""]


# The DPO datasets and their ties, whose rows the card counts side by side.
def _audience_section(audience, counts: dict, report: dict, *, min_cell_size: int) -> list[str]:
    coverage = report["coverage"]
    lines = [
        f"### {_inline(audience.name)} ({_code(audience.slug)}, {audience.kind})",
        "",
        *(_block(audience.description) if audience.description else ["No description given."]),
        "",
        f"- Wanted {_count(coverage['overlap_k'], 'response')} per item; "
        f"{coverage['items_at_k']:,} of {_count(coverage['items'], 'item')} "
        f"({_pct(coverage['share_at_k'])}) reached that, with "
        f"{_num(coverage['responses_per_item_mean'])} responses per item on average "
        f"(fewest: {_num(coverage['responses_per_item_min'], 0)}).",
        f"- {_count(counts['participants'], 'participant')} gave "
        f"{_count(counts['judgements'], 'judgement')}; "
        f"the most active one gave {_pct(coverage['largest_participant_share'])} of them "
        f"(Gini of responses per participant {_num(coverage['responses_per_participant_gini'])}).",
    ]
    for attribute in audience.attribute_schema:
        name = attribute["name"]
        entry = coverage["attributes"].get(name, {})
        text = f"- Attribute {_code(name)} ({_inline(attribute['label'])}): values " + ", ".join(
            _inline(choice) for choice in attribute["choices"]
        )
        entropy = report["diversity"]["attribute_entropy"].get(name)
        text += f"; spread over them (normalised entropy) {_num(entropy)}"
        if "total_variation_distance" in entry:
            text += (
                f"; against the target shares the total variation distance is "
                f"{_num(entry['total_variation_distance'])} and the largest gap "
                f"{_num(entry['largest_gap'])}"
            )
            if "weighted_total_variation_distance" in entry:
                text += f" ({_num(entry['weighted_total_variation_distance'])} after weighting)"
        lines.append(text + ".")
    if audience.target_marginals:
        weights = coverage["weights"]
        lines.append(
            "- Targets: "
            + "; ".join(
                f"{_code(name)}: "
                + ", ".join(f"{_inline(value)} {share:.0%}" for value, share in shares.items())
                for name, shares in audience.target_marginals.items()
            )
            + "."
        )
        if weights["raked"]:
            lines.append(
                f"- Rows carry raking weights (mean 1, from {_num(weights['min'])} to "
                f"{_num(weights['max'])}); the weighted sample is worth "
                f"{_num(weights['kish_effective_sample_size'], 1)} unweighted participants "
                "(Kish's effective sample size)."
            )
        elif weights["note"]:
            lines.append(f"- Weights are all 1: {_inline(weights['note'])}.")
    for judgement, values in (report.get("agreement") or {}).items():
        lines.append(_agreement_line(judgement, values))
    if audience.kind == "dyadic":
        lines.append(
            "- A dyadic audience has one member, whose attribute values are never published: "
            "they are null in every row, and no count, share or plot is drawn from them."
        )
    elif counts["suppressed_participants"]:
        lines.append(
            f"- Attribute values of {_count(counts['suppressed_participants'], 'participant')} "
            "are "
            f"suppressed (null): each shares their combination of values with fewer than "
            f"{min_cell_size} participants. Every count, share, weight and plot here is "
            "computed from the values as published, with these participants counted as "
            "suppressed: left out of each value's count and share and of the raking, and all "
            "given the same weight."
        )
    return [*lines, ""]


# What one unit of agreement is, per judgement (α compares the values units were given).
UNITS = {"choice": "items", "ranking": "ranked candidates", "ratings": "rated candidates"}


def _agreement_line(judgement: str, values: dict) -> str:
    """Krippendorff's α with its interval and what it rests on, or "too few overlapping
    judgements" when fewer units than the release's minimum were judged twice."""
    units = UNITS.get(judgement, "rated responses")  # else a rubric attribute
    pairable = values.get("pairable_units", 0)
    support = (
        f"{pairable:,} {units} judged at least twice "
        f"({values.get('pairable_values', 0):,} judgements of them)"
    )
    minimum = values.get("min_pairable_units")
    if values.get("too_few_overlapping_judgements", True):
        return (
            f"- Agreement on {_inline(judgement)}: too few overlapping judgements: "
            f"{support}, fewer than the {minimum or 'minimum'} needed to report "
            "Krippendorff's α."
        )
    alphas = []
    for key, value in values.items():
        if not key.startswith("alpha_") or key.endswith("_ci95"):
            continue
        text = f"α ({key.removeprefix('alpha_')}) {_num(value, 3)}"
        interval = values.get(f"{key}_ci95")
        if interval and None not in interval:
            text += f" (95% CI {interval[0]:.3f} to {interval[1]:.3f})"
        alphas.append(text)
    rounds = values.get("bootstrap_rounds") or 0
    return (
        f"- Agreement on {_inline(judgement)}: {', '.join(alphas)}, over {support}; raw "
        f"agreement {_pct(values.get('percent_agreement'))} of their pairs. Intervals: "
        f"percentiles of {rounds:,} bootstrap resamples of the {units}."
    )


def _pluralism(metrics: dict) -> list[str]:
    pluralism = metrics.get("pluralism")
    if not pluralism:
        return []
    lines = ["## Where audiences differ", ""]
    divergence = sorted(
        (entry for entry in pluralism.get("divergence", []) if entry["mean_jsd"] is not None),
        key=lambda entry: -entry["mean_jsd"],
    )
    if divergence:
        top = divergence[0]
        # Rating campaigns compare score distributions per rubric attribute.
        on = f" on {_code(top['attribute'])}" if "attribute" in top else ""
        lines.append(
            f"Audiences {_code(top['audience_a'])} and {_code(top['audience_b'])} "
            f"{'score' if on else 'vote'} most differently{on}: "
            f"a mean Jensen–Shannon divergence of {top['mean_jsd']:.3f} bits over "
            f"{top['shared_items']:,} shared items (0 = alike, 1 = opposite)."
        )
        lines.append("")
        lines.append("| audiences | shared items | mean JSD | most divergent items |")
        lines.append("| --- | ---: | ---: | --- |")
        for entry in divergence:
            items = ", ".join(
                f"{_inline(item['external_id'] or item['item_id'])} ({item['jsd']:.2f})"
                for item in entry["most_divergent_items"][:3]
            )
            attribute = (
                f" on {_code(entry['attribute'], cell=True)}" if "attribute" in entry else ""
            )
            lines.append(
                f"| {_inline(entry['audience_a'])} / {_inline(entry['audience_b'])}{attribute} "
                f"| {entry['shared_items']:,} "
                f"| {entry['mean_jsd']:.3f} | {items} |"
            )
        lines.append("")
    strengths = pluralism.get("bradley_terry") or {}
    intervals = pluralism.get("bradley_terry_ci95") or {}
    support = pluralism.get("bradley_terry_support") or {}
    if strengths:
        lines.append(
            "Bradley–Terry log-strengths of the candidates' sources, per audience, with 95% "
            "bootstrap intervals (percentiles over rounds of the decided pairs resampled, "
            "as Chatbot Arena publishes them):"
        )
        lines.append("")
        for slug, values in strengths.items():
            order = sorted(values, key=lambda source: -(values[source] or 0))
            bounds = intervals.get(slug) or {}
            rests = support.get(slug) or {}
            lines.append(
                f"- {_code(slug)}: "
                + " &gt; ".join(_strength(s, values[s], bounds.get(s)) for s in order)
                + f"; from {rests.get('decided_pairs', 0):,} decided pairs, "
                f"{rests.get('bootstrap_rounds', 0)} rounds."
            )
        lines.append("")
    for entry in pluralism.get("kendall_tau", []):
        value = (
            f"{entry['tau']:+.2f}"
            if entry["tau"] is not None
            else "not defined (fewer than two sources, or strengths tied)"
        )
        lines.append(
            f"- Kendall's τ between {_code(entry['audience_a'])} and "
            f"{_code(entry['audience_b'])} orderings: {value}, over the "
            f"{entry.get('shared_sources', 0)} sources both rank."
        )
    consensus = pluralism.get("consensus") or {}
    if consensus.get("top_items"):
        best = consensus["top_items"][0]
        lines.append(
            f"- Group-aware consensus (Polis) over "
            f"{', '.join(_code(slug) for slug in consensus['audiences'])}: the item all "
            f"audiences agree on most is {_inline(best['external_id'] or best['item_id'])} "
            f"(candidate {_inline(best['candidate'])}, {best['consensus']:.2f}, from "
            f"{best.get('votes', 0):,} votes; {consensus.get('items', 0):,} items scored)."
        )
    return [*lines, ""]


def _strength(source: str, value: float, interval: list | None) -> str:
    if interval and None not in interval:
        return f"{_inline(source)} ({value:+.2f}, {interval[0]:+.2f} to {interval[1]:+.2f})"
    return f"{_inline(source)} ({value:+.2f})"


def _abandoned_line(counts: dict) -> list[str]:
    """A conversation campaign's conversations that ended without a closing rating."""
    if "abandoned_conversations" not in counts:
        return []
    per_audience = counts["abandoned_conversations"]
    return [
        f"- Left out: {_count(sum(per_audience.values()), 'abandoned conversation')} "
        "(skipped, or left until their place went to someone else, so never given a "
        "closing rating); their turns are not here"
        + (
            " (" + ", ".join(f"{_code(slug)} {n}" for slug, n in per_audience.items()) + ")."
            if len(per_audience) > 1
            else "."
        )
    ]


def render(
    *,
    job,
    selection,
    configs: list[dict],
    counts: dict,
    metrics: dict,
    plots: list[str],
    conversational: bool,
) -> str:
    campaign = selection.campaign
    license_id = job.option("license")
    lines = _header(job, campaign, configs, license_id)
    lines += [
        f"# {_inline(campaign.name)}: release v{job.version}",
        "",
        *_block(campaign.description),
        "",
        f"Built with pluralign from campaign {_code(campaign.slug)}. Scope of alignment: "
        f"**{campaign.get_competence_display()}**, **{campaign.get_transience_display()}**, "
        f"for {_count(len(selection.audiences), 'audience')}: "
        + ", ".join(f"{_code(audience.slug)} ({audience.kind})" for audience in selection.audiences)
        + ". Every row carries these as `competence`, `transience` and `audience`.",
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
    ]
    # The main files first (pairs, demonstrations, QA), then the views.
    shown = sorted(configs, key=lambda c: c["kind"] not in ("preferences", "demonstrations", "qa"))
    for config in shown[:3]:
        lines.append(f'ds = load_dataset("path/to/this/folder", name={_q(config["name"])})')
    split = next((c for c in configs if len(c["files"]) > 1), None)
    if split is not None:
        lines.append(
            f'test = load_dataset("path/to/this/folder", name={_q(split["name"])}, '
            f"split={_q(split['files'][-1][0])})"
        )
    lines += ["```", "", "| config | file | rows | contents |", "| --- | --- | ---: | --- |"]
    for config in configs:
        rows = f"{config['rows']:,}"
        if len(config["files"]) > 1:
            rows = ", ".join(
                f"{name} {config['split_rows'][name]:,}" for name, _ in config["files"]
            )
        lines.append(
            f"| {_code(config['name'], cell=True)} | {_code(config['path'], cell=True)} "
            f"| {rows} "
            f"| {kinds.dataset(config['kind']).contents} |"
        )
    if not configs:
        lines.append("| (none) | | 0 | no exportable judgements yet |")
    lines += [
        "",
        "Each Parquet file has a JSONL twin when the export asked for JSONL, and "
        "`*.openai.jsonl` files follow OpenAI's fine-tuning formats (chat `messages` for "
        "supervised fine-tuning; `input` / `preferred_output` / `non_preferred_output` for "
        "preference fine-tuning, ties left out).",
        "",
        "## Collection",
        "",
        f"- Responses from {counts['first_response_at'] or 'n/a'} to "
        f"{counts['last_response_at'] or 'n/a'}; data as of {job.snapshot_at.isoformat()}.",
        f"- {_count(counts['items'], 'item')}, {_count(counts['judgements'], 'judgement')} "
        f"from {_count(counts['participants'], 'participant')}.",
        f"- Left out: {_count(counts['excluded_unconsented_participants'], 'participant')} "
        "without "
        f"consent, {counts['excluded_failed_attention_participants']} who failed attention "
        "checks"
        + ("" if job.option("exclude_failed_attention") else " (kept: the export said so)")
        + ", attention-check items themselves, and every withdrawn response.",
        f"- Left out by the researchers: {_count(counts['excluded_items'], 'item')} they "
        "excluded from releases"
        + (
            f", and {_count(counts['rejected_demonstrations'], 'demonstration')} a reviewer "
            "rejected."
            if collection_kinds.get(campaign.item_kind).reviewed
            else "."
        ),
        *_abandoned_line(counts),
        f"- {_count(counts['withdrawn_since_previous'], 'participant')} withdrew since "
        + (
            f"release v{counts['previous_version']}"
            if counts["previous_version"]
            else "the campaign began"
        )
        + f" ({counts['withdrawn_participants_total']} in all); their data is not here.",
        "",
        "## Audiences",
        "",
    ]
    for audience in selection.audiences:
        lines += _audience_section(
            audience,
            counts["audiences"][audience.slug],
            metrics["audiences"][audience.slug],
            min_cell_size=job.option("min_cell_size"),
        )
    prompts = metrics["diversity"]["prompts"]
    lines += [
        "## Diversity",
        "",
        f"Prompts: distinct-1 {_num(prompts['distinct_1'])}, distinct-2 "
        f"{_num(prompts['distinct_2'])} over {prompts.get('words', 0):,} words (share of "
        "words and word pairs that are new; low means repetitive).",
        "",
    ]
    for slug, report in metrics["audiences"].items():
        if "demonstrations" in report["diversity"]:
            values = report["diversity"]["demonstrations"]
            lines.append(
                f"- Demonstrations by {_code(slug)}: distinct-1 {_num(values['distinct_1'])}, "
                f"distinct-2 {_num(values['distinct_2'])} over {values.get('words', 0):,} words."
            )
    lines += ["", *_pluralism(metrics), *_training(job, configs)]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name.removesuffix('.png')}](plots/{name})" for name in plots]
        lines.append("")
    lines += [
        "## Columns",
        "",
        "- `item_id`, `external_id`: the item; `audience`, `competence`, `transience`: its scope.",
        "- `participant_id`: a pseudonym, HMAC-SHA256 of the audience's and the participant's "
        "ids under a key kept for this release only: stable within one audience of the "
        "release, different in every other audience and every other release (so a person "
        "in two audiences cannot be linked across them).",
        "- `weight`: post-stratification weight from raking the audience's participants to "
        "its target shares (public audiences with targets); 1 everywhere else. Raked on the "
        "attribute values as published: participants whose values are suppressed are "
        "counted as suppressed, left out of every margin, and all share one weight, so a "
        "weight tells nothing a row's `attr_` columns do not.",
        "- `attr_<name>`: the participant's self-reported attribute; null where the "
        f"combination of their attribute values is shared by fewer than "
        f"{job.option('min_cell_size')} participants, and always in dyadic audiences.",
        "- `joined_via`: how the participant came in: `open` (open sign-up), `invited`, "
        "`screened` (a screened public audience) or `panel`.",
        *[
            line
            for dataset in kinds.get(campaign.item_kind).datasets
            for line in [
                dataset.card_columns(conversational),
                *(dataset.card_notes(campaign, _inline) if dataset.card_notes else []),
            ]
            if line
        ],
        "",
        "## Consent and licence",
        "",
        "Every participant here agreed to this text (version "
        f"{_inline(campaign.consent_version)}):",
        "",
        *[f"> {line}" if line else ">" for line in _block(campaign.consent_text)],
        "",
        f"Licence: {_code(license_id)}. No usernames or e-mail addresses are included. "
        "Participants may withdraw at any time; later releases leave their data out, so "
        "please use the latest release.",
        "",
        "`metrics.json` holds every metric; `manifest.json` lists each file with its SHA-256 "
        "and row count, and the export's parameters.",
        "",
    ]
    return "\n".join(lines)
