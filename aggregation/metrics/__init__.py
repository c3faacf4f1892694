"""Dataset metrics: pure functions over pandas data (or counts of it), no database.

What each one tells a researcher:

Coverage (`coverage`, `weights`)
    items_at_k                  how many items reached the wanted k responses; mean and
                                minimum responses per item, unanswered items included.
    participant_load            how many people answered; Gini of responses per person
                                (0 = evenly spread) and the largest one person's share.
    attribute_shares            per attribute value, the sample's share next to the target.
    largest_absolute_gap        the stratum furthest from its target share.
    total_variation_distance    share of the sample that would have to move to match the
                                targets (0 = matches, 1 = disjoint).
    rake_weights                post-stratification weights (mean 1) that make the sample
                                match several attribute targets at once.
    kish_effective_sample_size  how many unweighted people the weighted sample is worth.

Diversity (`diversity`)
    normalized_entropy          how evenly members spread over an attribute's allowed
                                values (1 = evenly, 0 = all alike).
    distinct_n, lexical_diversity, LexicalDiversity
                                distinct-1 / distinct-2: share of words / word pairs that
                                are new; low values mean repetitive prompts or answers
                                (LexicalDiversity takes the texts batch by batch).

Agreement (`agreement`)
    krippendorff_alpha          chance-corrected agreement between raters (1 = perfect,
                                0 = chance); ≥ 0.8 is reliable, < 0.667 is not.
    percent_agreement           share of rater pairs who gave the same value (not corrected
                                for chance).
    *_from_counts               the same two from a units × values matrix of counts.
    alpha_estimate, alpha_estimates_from_counts, AlphaEstimate
                                α at a level of measurement (nominal, ordinal, interval,
                                ratio) from a units × coders table or from counts, with
                                what it rests on (pairable units and values), a 95%
                                bootstrap interval, and `too_few` below a minimum of
                                units judged at least twice (then shown as TOO_FEW).

Intervals (`bootstrap`)
    alpha_bootstrap             α over resampled units (percentile interval).
    bradley_terry_bootstrap     95% intervals of Bradley–Terry strengths, 100 rounds of
                                resampled comparisons, as Chatbot Arena publishes them.

Pluralism (`pluralism`)
    vote_distribution           per item and audience, votes and shares per candidate: soft
                                labels that keep disagreement.
    vote_shares                 the same shares from per-(item, candidate) vote counts.
    jensen_shannon_by_item, audience_divergence, jensen_shannon
                                how differently two audiences vote (0 = alike, 1 = opposite),
                                per item, on average, and the most divergent items.
    bradley_terry, bradley_terry_by_audience, bradley_terry_from_counts
                                strength of each candidate source (model) per audience.
    kendall_tau                 whether two audiences order the sources alike (1) or reversed
                                (−1).
    group_aware_consensus       Polis' score: high only when every audience picks the
                                candidate (also `group_aware_consensus_from_counts`).
    ranking_to_pairs            a ranking expanded into (winner, loser, tie) pairs.

metrics.json (`document`)
    metrics_document            all of the above from a release's counts, as metrics.json
                                holds them; the dashboard reads the same document.
"""

from aggregation.metrics.agreement import (
    MIN_PAIRABLE_UNITS,
    TOO_FEW,
    AlphaEstimate,
    alpha_estimate,
    alpha_estimates_from_counts,
    alpha_support,
    krippendorff_alpha,
    krippendorff_alpha_from_counts,
    percent_agreement,
    percent_agreement_from_counts,
)
from aggregation.metrics.bootstrap import (
    ALPHA_ROUNDS,
    BRADLEY_TERRY_ROUNDS,
    alpha_bootstrap,
    bradley_terry_bootstrap,
    percentile_interval,
)
from aggregation.metrics.coverage import (
    ItemsAtK,
    ParticipantLoad,
    attribute_shares,
    gini,
    items_at_k,
    largest_absolute_gap,
    participant_load,
    total_variation_distance,
)
from aggregation.metrics.diversity import (
    LexicalDiversity,
    distinct_n,
    lexical_diversity,
    normalized_entropy,
    tokenize,
)
from aggregation.metrics.document import METRIC_PARTS, metrics_document
from aggregation.metrics.pluralism import (
    AudienceDivergence,
    RankedPair,
    audience_divergence,
    bradley_terry,
    bradley_terry_by_audience,
    bradley_terry_fit,
    bradley_terry_from_counts,
    group_aware_consensus,
    group_aware_consensus_from_counts,
    jensen_shannon,
    jensen_shannon_by_item,
    kendall_tau,
    ranking_to_pairs,
    vote_distribution,
    vote_shares,
)
from aggregation.metrics.weights import kish_effective_sample_size, rake_weights

__all__ = [
    "ALPHA_ROUNDS",
    "BRADLEY_TERRY_ROUNDS",
    "METRIC_PARTS",
    "MIN_PAIRABLE_UNITS",
    "TOO_FEW",
    "AlphaEstimate",
    "AudienceDivergence",
    "ItemsAtK",
    "LexicalDiversity",
    "ParticipantLoad",
    "RankedPair",
    "alpha_bootstrap",
    "alpha_estimate",
    "alpha_estimates_from_counts",
    "alpha_support",
    "attribute_shares",
    "audience_divergence",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "bradley_terry_by_audience",
    "bradley_terry_fit",
    "bradley_terry_from_counts",
    "distinct_n",
    "gini",
    "group_aware_consensus",
    "group_aware_consensus_from_counts",
    "items_at_k",
    "jensen_shannon",
    "jensen_shannon_by_item",
    "kendall_tau",
    "kish_effective_sample_size",
    "krippendorff_alpha",
    "krippendorff_alpha_from_counts",
    "largest_absolute_gap",
    "lexical_diversity",
    "metrics_document",
    "normalized_entropy",
    "participant_load",
    "percent_agreement",
    "percent_agreement_from_counts",
    "percentile_interval",
    "rake_weights",
    "ranking_to_pairs",
    "tokenize",
    "total_variation_distance",
    "vote_distribution",
    "vote_shares",
]
