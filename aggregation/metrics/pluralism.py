"""Pluralism: where audiences' preferences differ, and where they agree."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

import choix
import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import kendalltau

Candidates = Sequence[Hashable] | Mapping[Hashable, Sequence[Hashable]] | None


def vote_distribution(
    votes: pd.DataFrame,
    *,
    candidates: Candidates = None,
    tie: Hashable = "tie",
    item: str = "item_id",
    audience: str = "audience",
    choice: str = "choice",
) -> pd.DataFrame:
    """Soft labels: per item and audience, the votes and vote share of each candidate.

    `votes` has one row per judgement with the chosen candidate in `choice`,
    or the `tie` marker. `candidates` lists each item's candidates: one list
    for all items (["A", "B"]), a mapping from item id to its list, or None to
    use the candidates chosen for that item in any audience (then a candidate
    nobody chose, and an item whose every vote is a tie, do not appear).

    Returns one row per (item, audience, candidate) with `votes` (outright
    votes for the candidate), `ties` (tie votes on the item in that audience,
    repeated on each candidate row), `total` (all votes, ties included) and
    `share` = (votes + ties / number of candidates) / total, computed by
    `vote_shares` (the one implementation; releases call it on their counts): a
    tie counts as an equal fraction of a vote for each candidate, so shares sum
    to 1. This keeps the disagreement a majority label throws away (Uma et al.,
    "Learning from Disagreement: A Survey", JAIR 72, 2021).
    """
    rows = votes[[item, audience, choice]].dropna()
    # One pass over the judgements; everything after works on the small per-item counts.
    counts = rows.groupby([item, audience, choice]).size().rename("votes").reset_index()
    is_tie = counts[choice] == tie
    decided = counts[~is_tie].rename(columns={choice: "candidate"})
    keys = counts.groupby([item, audience])["votes"].sum().rename("total").reset_index()
    ties = counts[is_tie][[item, audience, "votes"]].rename(columns={"votes": "ties"})
    keys = keys.merge(ties, on=[item, audience], how="left").fillna({"ties": 0})

    listed = _candidate_table(candidates, keys, decided, item=item)
    table = keys.merge(listed, on=item).merge(
        decided, on=[item, audience, "candidate"], how="left", indicator=True
    )
    if len(table[table["_merge"] == "both"]) != len(decided):
        raise ValueError("some votes choose a candidate the item does not list")
    table = table.fillna({"votes": 0})
    table["share"] = _long_shares(table, keys=[item, audience])
    table = table.sort_values([item, audience, "_position"], kind="stable")
    columns = [item, audience, "candidate", "votes", "ties", "total", "share"]
    table = table[columns].reset_index(drop=True)
    return table.astype({"votes": int, "ties": int, "total": int})


def _long_shares(table: pd.DataFrame, *, keys: list[str]) -> np.ndarray:
    """`vote_shares` on a long table of (item, audience, candidate) rows: each
    (item, audience) is one row of the count matrix, each candidate's position a column."""
    if table.empty:
        return np.zeros(0)
    group = table.groupby(keys, sort=False).ngroup().to_numpy()
    position = table["_position"].to_numpy()
    groups = group.max() + 1
    votes = np.zeros((groups, position.max() + 1), dtype=np.int64)
    votes[group, position] = table["votes"].to_numpy()
    ties = np.zeros(groups, dtype=np.int64)
    ties[group] = table["ties"].to_numpy()
    return vote_shares(votes, ties, np.bincount(group, minlength=groups))[group, position]


def _candidate_table(
    candidates: Candidates, keys: pd.DataFrame, decided: pd.DataFrame, *, item: str
) -> pd.DataFrame:
    """One row per (item, candidate) with the candidate's display position."""
    if candidates is None:
        table = decided[[item, "candidate"]].drop_duplicates().sort_values([item, "candidate"])
    elif isinstance(candidates, str):
        raise TypeError("candidates must be a list of labels or a mapping, not a string")
    elif isinstance(candidates, Mapping):
        table = pd.DataFrame(
            [(item_id, c) for item_id, names in candidates.items() for c in names],
            columns=[item, "candidate"],
        )
    else:
        items = pd.DataFrame({item: keys[item].unique()})
        table = items.merge(pd.DataFrame({"candidate": list(candidates)}), how="cross")
    table = table.reset_index(drop=True)
    table["_position"] = table.groupby(item).cumcount()
    return table


def jensen_shannon_by_item(
    distribution: pd.DataFrame,
    *,
    audience_a: Hashable,
    audience_b: Hashable,
    item: str = "item_id",
    audience: str = "audience",
) -> pd.Series:
    """Jensen–Shannon divergence between two audiences' vote shares, per shared item.

    JSD(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M) with M = ½ (P + Q) (Lin,
    "Divergence measures based on the Shannon entropy", IEEE Trans. Inf.
    Theory 37, 1991), in bits, so it lies in [0, 1]: 0 when both audiences
    split their votes alike, 1 when they never pick the same candidate.
    scipy's `jensenshannon` returns the distance √JSD; it is squared here.

    `distribution` is the output of `vote_distribution`. Shared items are
    those with votes from both audiences; a candidate missing on one side has
    share 0 there. Returns a Series indexed by item id, sorted by item.
    """
    shares = distribution.pivot_table(
        index=[item, "candidate"], columns=audience, values="share", aggfunc="sum"
    )
    if audience_a not in shares.columns or audience_b not in shares.columns:
        return pd.Series(dtype=float, name="jsd")
    p = shares[audience_a].unstack("candidate")
    q = shares[audience_b].unstack("candidate")
    shared = p.index[p.notna().any(axis=1)].intersection(q.index[q.notna().any(axis=1)])
    shared = shared.sort_values()
    if shared.empty:
        return pd.Series(dtype=float, name="jsd", index=shared)
    p = p.loc[shared].fillna(0.0).to_numpy()
    q = q.loc[shared].fillna(0.0).to_numpy()
    return pd.Series(jensen_shannon(p, q), index=shared, name="jsd")


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence in bits between matching rows of two share matrices.

    The divergence of `jensen_shannon_by_item` (Lin 1991), for shares already
    laid out as arrays: row i of ``p`` and of ``q`` are two audiences' shares
    of the same item's candidates (0 for a candidate a row does not have).
    """
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if not len(p):
        return np.zeros(0)
    return jensenshannon(p, q, base=2, axis=1) ** 2


def vote_shares(votes: np.ndarray, ties: np.ndarray, n_candidates: np.ndarray) -> np.ndarray:
    """Soft labels from vote counts: the `share` column of `vote_distribution`.

    ``votes[i, c]`` counts outright votes for candidate position c of item i,
    ``ties[i]`` the item's tie votes and ``n_candidates[i]`` how many
    candidates it lists. Share = (votes + ties / n) / total, total counting
    ties; positions past an item's candidates get 0, and an item without
    votes gets NaN. Counting per (item, candidate) first, as a release does
    chunk by chunk, gives the same shares without one row per judgement.
    """
    votes = np.asarray(votes, dtype=np.int64)
    ties = np.asarray(ties, dtype=np.int64)
    n = np.asarray(n_candidates, dtype=np.int64)
    total = votes.sum(axis=1) + ties
    listed = np.arange(votes.shape[1]) < n[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (votes + (ties / n)[:, None]) / total[:, None]
    return np.where(listed | (total[:, None] == 0), shares, 0.0)


@dataclass(frozen=True)
class AudienceDivergence:
    items: int
    mean: float
    top: pd.Series


def audience_divergence(
    distribution: pd.DataFrame,
    *,
    audience_a: Hashable,
    audience_b: Hashable,
    top_n: int = 10,
    item: str = "item_id",
    audience: str = "audience",
) -> AudienceDivergence:
    """Mean Jensen–Shannon divergence over the items both audiences voted on, and the top items.

    See `jensen_shannon_by_item` for the divergence. `top` holds the `top_n`
    most divergent items, largest first (ties in item id order); `mean` is
    NaN when the audiences share no item.
    """
    jsd = jensen_shannon_by_item(
        distribution, audience_a=audience_a, audience_b=audience_b, item=item, audience=audience
    )
    top = jsd.sort_values(ascending=False, kind="stable").head(top_n)
    mean = float(jsd.mean()) if len(jsd) else float("nan")
    return AudienceDivergence(items=len(jsd), mean=mean, top=top)


def bradley_terry(
    pairs: pd.DataFrame,
    *,
    winner: str = "winner_source",
    loser: str = "loser_source",
    alpha: float = 0.01,
) -> pd.Series:
    """Bradley–Terry strengths of candidate sources from decided pairwise outcomes.

    Model: P(i beats j) = 1 / (1 + exp(θⱼ − θᵢ)) (Bradley & Terry,
    Biometrika 39, 1952). θ is fitted by iterative Luce spectral ranking
    (`choix`; Maystre & Grossglauser, NeurIPS 2015; fitted on the counts by
    `bradley_terry_from_counts`) with a
    small regulariser `alpha` so that a source that never wins (or never
    loses) still gets a finite strength; alpha=0 gives the plain maximum
    likelihood estimate, which then may not exist.

    `pairs` has one row per decided comparison; leave ties out. Rows with a
    missing source, or the same source on both sides, carry no information
    about the order and are dropped. Returns log-strengths θ indexed by
    source (sorted), centred on mean 0: a gap of 1 between two sources means
    odds of e ≈ 2.7 to 1 that the first is preferred.
    """
    rows = pairs[[winner, loser]].dropna()
    rows = rows[rows[winner] != rows[loser]]
    counts = rows.groupby([winner, loser]).size().to_dict()
    return bradley_terry_from_counts(counts, alpha=alpha)


def bradley_terry_from_counts(counts: dict, *, alpha: float = 0.01) -> pd.Series:
    """`bradley_terry` fitted from a win-count matrix.

    The one fit behind both: ``choix.ilsr_pairwise_dense`` (iterative Luce spectral
    ranking on the matrix of win counts) gives the estimate ``choix.ilsr_pairwise``
    gives on the list of pairs, but costs O(sources²) per iteration instead of
    O(judgements), which matters for a million judgements; `bradley_terry` counts its
    pairs and calls this. ``counts`` maps (winner, loser) to decided pairs.
    """
    sources = pd.Index(sorted({s for pair in counts for s in pair})).sort_values()
    if sources.empty:
        return pd.Series(dtype=float, index=sources, name="log_strength")
    matrix = np.zeros((len(sources), len(sources)))
    for (winner, loser), n in counts.items():
        matrix[sources.get_loc(winner), sources.get_loc(loser)] += n
    return pd.Series(bradley_terry_fit(matrix, alpha=alpha), index=sources, name="log_strength")


def bradley_terry_fit(
    wins: np.ndarray, *, alpha: float = 0.01, initial: np.ndarray | None = None
) -> np.ndarray:
    """Log-strengths, centred on mean 0, from ``wins[i, j]`` = times i beat j; ``initial``
    starts the iterations there (the same fixed point, reached in fewer steps)."""
    theta = choix.ilsr_pairwise_dense(
        np.asarray(wins, dtype=float), alpha=alpha, initial_params=initial
    )
    return theta - theta.mean()


def bradley_terry_by_audience(
    pairs: pd.DataFrame,
    *,
    audience: str = "audience",
    winner: str = "winner_source",
    loser: str = "loser_source",
    alpha: float = 0.01,
) -> pd.DataFrame:
    """`bradley_terry` fitted separately per audience: sources × audiences, NaN where unseen."""
    fitted = {
        name: bradley_terry(group, winner=winner, loser=loser, alpha=alpha)
        for name, group in pairs.groupby(audience, sort=True)
    }
    return pd.DataFrame(fitted)


def kendall_tau(strengths_a: pd.Series, strengths_b: pd.Series) -> float:
    """Kendall's τ-b between two audiences' orderings of the sources both have rated.

    τ = (concordant − discordant pairs) / number of pairs, with the τ-b
    correction for ties (Kendall, "The treatment of ties in ranking problems",
    Biometrika 33, 1945), via `scipy.stats.kendalltau`. 1 means both
    audiences order the shared sources alike, −1 means exactly reversed. NaN
    with fewer than two shared sources.
    """
    a, b = strengths_a.dropna(), strengths_b.dropna()
    shared = a.index.intersection(b.index)
    if len(shared) < 2:
        return float("nan")
    return float(kendalltau(a[shared], b[shared]).statistic)


def group_aware_consensus(
    votes: pd.DataFrame,
    *,
    candidate: Hashable | Mapping[Hashable, Hashable],
    audiences: Iterable[Hashable] | None = None,
    item: str = "item_id",
    audience: str = "audience",
    choice: str = "choice",
) -> pd.Series:
    """Polis' group-aware consensus for one candidate per item.

    The product over audiences g of (votes for the candidate in g + 1) /
    (all votes in g + 2): each factor is a Laplace-smoothed estimate of the
    probability that a member of g picks the candidate, so the score is high
    only when every audience picks it (Small et al., "Polis: Scaling
    deliberation by mapping high dimensional opinion spaces", Recerca 26(2),
    2021; the `group-aware-consensus` step of Polis' math/conversation.clj).
    Ties count as votes but not for the candidate, as Polis counts passes.

    `candidate` is the candidate scored on every item ("A"), or a mapping
    from item id to its candidate (items outside the mapping are left out).
    `audiences` defaults to every audience in `votes`; an audience without
    votes on an item contributes ½, as in Polis. Scores fall as audiences
    are added, so compare items scored over the same audiences.
    """
    rows = votes[[item, audience, choice]].dropna()
    names = pd.unique(rows[audience]) if audiences is None else list(audiences)
    if isinstance(candidate, Mapping):
        rows = rows[rows[item].isin(list(candidate))]
        target = rows[item].map(candidate)
    else:
        target = pd.Series(candidate, index=rows.index)
    rows = rows.assign(_agree=(rows[choice] == target).astype(int))
    grouped = rows.groupby([item, audience])["_agree"].agg(["sum", "size"])
    agree = grouped["sum"].unstack(audience).reindex(columns=names).fillna(0)
    seen = grouped["size"].unstack(audience).reindex(columns=names).fillna(0)
    score = group_aware_consensus_from_counts(agree.to_numpy(), seen.to_numpy())
    return pd.Series(score, index=agree.index, name="consensus")


def group_aware_consensus_from_counts(agree: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """`group_aware_consensus` from counts: ``agree[i, g]`` votes for the candidate
    and ``seen[i, g]`` all votes (ties included) on item i in audience g.
    Returns the product over audiences of (agree + 1) / (seen + 2), per item."""
    agree, seen = np.asarray(agree, dtype=float), np.asarray(seen, dtype=float)
    return ((agree + 1) / (seen + 2)).prod(axis=-1)


class RankedPair(NamedTuple):
    winner: Hashable
    loser: Hashable
    tie: bool


def ranking_to_pairs(ranking: Sequence[Hashable | Sequence[Hashable]]) -> list[RankedPair]:
    """Expand a ranking, best first, into every pairwise (winner, loser) it implies.

    [a, b, c] gives (a, b), (a, c), (b, c): k candidates give k(k − 1)/2
    pairs, the usual "rank breaking" into pairwise comparisons (Hunter, "MM
    algorithms for generalized Bradley–Terry models", Ann. Statist. 32,
    2004, §5). An entry may be a list or tuple of candidates tied at that
    rank (a set is sorted first); pairs within it come out with tie=True, in
    listed order, so ties are kept and marked rather than dropped. A
    candidate may appear only once.
    """
    groups = [_tied_group(entry) for entry in ranking]
    flat = [c for group in groups for c in group]
    if len(set(flat)) != len(flat):
        raise ValueError("a candidate appears more than once in the ranking")
    pairs: list[RankedPair] = []
    for i, group in enumerate(groups):
        pairs.extend(RankedPair(a, b, True) for a, b in combinations(group, 2))
        for lower in groups[i + 1 :]:
            pairs.extend(RankedPair(a, b, False) for a in group for b in lower)
    return pairs


def _tied_group(entry: Hashable | Sequence[Hashable]) -> list[Hashable]:
    if isinstance(entry, set | frozenset):
        return sorted(entry)
    if isinstance(entry, list | tuple):
        return list(entry)
    return [entry]
