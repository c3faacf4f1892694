import math

import numpy as np
import pandas as pd
import pytest

from aggregation.metrics import (
    RankedPair,
    audience_divergence,
    bradley_terry,
    bradley_terry_by_audience,
    group_aware_consensus,
    group_aware_consensus_from_counts,
    jensen_shannon,
    jensen_shannon_by_item,
    kendall_tau,
    ranking_to_pairs,
    vote_distribution,
    vote_shares,
)


def votes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "audience", "choice"])


def test_vote_distribution_splits_ties_evenly_and_reports_them():
    # Item 1, audience x: A, A, B, tie → A (2 + ½)/4 = .625, B (1 + ½)/4 = .375; 1 tie.
    # Item 2, audience x: one tie only → ½ each when the candidates are given.
    data = votes([(1, "x", "A"), (1, "x", "A"), (1, "x", "B"), (1, "x", "tie"), (2, "x", "tie")])
    table = vote_distribution(data, candidates=["A", "B"])
    rows = table.set_index(["item_id", "audience", "candidate"])
    assert rows.loc[(1, "x", "A")].to_dict() == {"votes": 2, "ties": 1, "total": 4, "share": 0.625}
    assert rows.loc[(1, "x", "B"), "share"] == 0.375
    assert rows.loc[(2, "x", "A"), "share"] == 0.5
    assert table.groupby(["item_id", "audience"])["share"].sum().tolist() == [1.0, 1.0]


def test_vote_distribution_infers_candidates_across_audiences():
    # Nobody in y chose B, but x did: B appears for y with 0 votes.
    data = votes([(1, "x", "A"), (1, "x", "B"), (1, "y", "A")])
    table = vote_distribution(data)
    y = table[table["audience"] == "y"].set_index("candidate")
    assert y["votes"].to_dict() == {"A": 1, "B": 0}
    assert y["share"].to_dict() == {"A": 1.0, "B": 0.0}


def test_vote_distribution_with_candidates_per_item_rejects_unknown_choices():
    data = votes([(1, "x", "A"), (2, "x", "C")])
    table = vote_distribution(data, candidates={1: ["A", "B"], 2: ["A", "B", "C"]})
    assert table.loc[table["item_id"] == 2, "candidate"].tolist() == ["A", "B", "C"]
    with pytest.raises(ValueError):
        vote_distribution(data, candidates=["A", "B"])


def test_jensen_shannon_hand_worked():
    # Item 1: x all A (1, 0), y all B (0, 1) → disjoint, JSD = 1 bit.
    # Item 2: x (.5, .5), y (1, 0); M = (.75, .25).
    #   KL(x‖M) = .5·log2(.5/.75) + .5·log2(.5/.25) = .5·(−0.584963) + .5·1 = 0.207519
    #   KL(y‖M) = log2(1/.75) = 0.415037 → JSD = ½(0.207519 + 0.415037) = 0.311278.
    # Item 3: x and y alike → 0. Item 4: only x voted → not shared.
    data = votes(
        [
            (1, "x", "A"),
            (1, "y", "B"),
            (2, "x", "A"),
            (2, "x", "B"),
            (2, "y", "A"),
            (3, "x", "A"),
            (3, "y", "A"),
            (4, "x", "A"),
        ]
    )
    distribution = vote_distribution(data, candidates=["A", "B"])
    jsd = jensen_shannon_by_item(distribution, audience_a="x", audience_b="y")
    assert jsd.to_dict() == pytest.approx({1: 1.0, 2: 0.311278, 3: 0.0}, abs=1e-6)

    # Mean (1 + 0.311278 + 0)/3 = 0.437093; the top two are items 1 then 2.
    summary = audience_divergence(distribution, audience_a="x", audience_b="y", top_n=2)
    assert summary.items == 3
    assert summary.mean == pytest.approx(0.437093, abs=1e-6)
    assert summary.top.index.tolist() == [1, 2]


def test_divergence_with_no_shared_items():
    distribution = vote_distribution(votes([(1, "x", "A"), (2, "y", "A")]))
    summary = audience_divergence(distribution, audience_a="x", audience_b="y")
    assert summary.items == 0 and math.isnan(summary.mean)
    missing = audience_divergence(distribution, audience_a="x", audience_b="nobody")
    assert missing.items == 0


def test_bradley_terry_hand_worked_two_sources():
    # gpt beats llama twice, loses once: the MLE has P(gpt wins) = 2/3, so
    # θ_gpt − θ_llama = ln(2/3 / 1/3) = ln 2; centred: ±ln 2 / 2 = ±0.346574.
    pairs = pd.DataFrame(
        {"winner_source": ["gpt", "gpt", "llama"], "loser_source": ["llama", "llama", "gpt"]}
    )
    strengths = bradley_terry(pairs, alpha=0)
    assert strengths.to_dict() == pytest.approx({"gpt": math.log(2) / 2, "llama": -math.log(2) / 2})
    # The default regulariser shrinks a little towards 0 but keeps the order.
    shrunk = bradley_terry(pairs)
    assert 0 < shrunk["gpt"] < math.log(2) / 2


def test_bradley_terry_cycle_gives_equal_strengths_and_drops_self_pairs():
    # a > b, b > c, c > a: every source wins once and loses once → all θ equal (0).
    pairs = pd.DataFrame(
        {"winner_source": ["a", "b", "c", "a"], "loser_source": ["b", "c", "a", "a"]}
    )
    assert bradley_terry(pairs, alpha=0).to_numpy() == pytest.approx(np.zeros(3), abs=1e-6)


def test_bradley_terry_per_audience_and_kendall_tau():
    # Audience x: a > b > c (every pair once, plus repeats so strengths differ clearly);
    # audience y: c beats everyone, then a > b.
    rows = [("x", w, lo) for w, lo in ranking_pairs(["a", "b", "c"])] * 3
    rows += [("y", w, lo) for w, lo in ranking_pairs(["c", "a", "b"])] * 3
    pairs = pd.DataFrame(rows, columns=["audience", "winner_source", "loser_source"])
    table = bradley_terry_by_audience(pairs)
    assert table.columns.tolist() == ["x", "y"]
    assert table["x"].sort_values(ascending=False).index.tolist() == ["a", "b", "c"]
    assert table["y"].sort_values(ascending=False).index.tolist() == ["c", "a", "b"]
    # Orders a>b>c vs c>a>b: pairs (a,b) concordant, (a,c) and (b,c) discordant → (1−2)/3.
    assert kendall_tau(table["x"], table["y"]) == pytest.approx(-1 / 3)


def ranking_pairs(ranking: list[str]) -> list[tuple[str, str]]:
    return [(p.winner, p.loser) for p in ranking_to_pairs(ranking)]


def test_kendall_tau_hand_worked():
    # A>B>C>D vs A>C>B>D: of 6 pairs only (B, C) is discordant → (5 − 1)/6 = 2/3.
    a = pd.Series({"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0})
    b = pd.Series({"A": 4.0, "C": 3.0, "B": 2.0, "D": 1.0, "E": 0.0})  # E is not shared
    assert kendall_tau(a, b) == pytest.approx(2 / 3)
    assert math.isnan(kendall_tau(a, pd.Series({"A": 1.0})))


def test_group_aware_consensus_hand_worked():
    # Item 1: x 2 of 4 votes for A (one is a tie) → 3/6; y 1 of 2 → 2/4; product .25.
    # Item 2: x 0 of 1 → 1/3; y has no votes → 1/2 (Polis' prior); product 1/6.
    # Item 3: x 3 of 3 → 4/5; y 2 of 2 → 3/4; product .6 — the one both audiences back.
    data = votes(
        [(1, "x", "A"), (1, "x", "A"), (1, "x", "B"), (1, "x", "tie"), (1, "y", "A")]
        + [(1, "y", "B"), (2, "x", "B")]
        + [(3, "x", "A")] * 3
        + [(3, "y", "A")] * 2
    )
    consensus = group_aware_consensus(data, candidate="A")
    assert consensus.to_dict() == pytest.approx({1: 0.25, 2: 1 / 6, 3: 0.6})
    # A candidate per item: B on item 2 → x 1 of 1 → 2/3, y 1/2 → 1/3.
    per_item = group_aware_consensus(data, candidate={2: "B"})
    assert per_item.to_dict() == pytest.approx({2: 1 / 3})
    # A third audience with no votes at all halves every score.
    wider = group_aware_consensus(data, candidate="A", audiences=["x", "y", "z"])
    assert wider[3] == pytest.approx(0.3)


def test_ranking_to_pairs_expands_best_first_and_marks_ties():
    # [a, b, c] → (a,b) (a,c) (b,c): k(k−1)/2 = 3 pairs.
    assert ranking_to_pairs(["a", "b", "c"]) == [
        ("a", "b", False),
        ("a", "c", False),
        ("b", "c", False),
    ]
    # a first, b and c tied, d last: 6 pairs, one of them a tie.
    pairs = ranking_to_pairs(["a", ("b", "c"), "d"])
    assert len(pairs) == 6
    assert [p for p in pairs if p.tie] == [RankedPair("b", "c", True)]
    assert RankedPair("c", "d", False) in pairs
    with pytest.raises(ValueError):
        ranking_to_pairs(["a", "b", "a"])


def test_vote_shares_from_counts_are_the_vote_distribution():
    # Item 1 (A, B): 2 A, 1 B, 1 tie → (2 + ½)/4, (1 + ½)/4. Item 2 (A, B, C): 1 C, 1 tie →
    # (0 + ⅓)/2, (0 + ⅓)/2, (1 + ⅓)/2. Item 3: no votes → NaN.
    counts = np.array([[2, 1, 0], [0, 0, 1], [0, 0, 0]])
    shares = vote_shares(counts, ties=np.array([1, 1, 0]), n_candidates=np.array([2, 3, 2]))
    assert shares[0] == pytest.approx([0.625, 0.375, 0.0])
    assert shares[1] == pytest.approx([1 / 6, 1 / 6, 2 / 3])
    assert np.isnan(shares[2]).all()
    first = [(1, "x", "A"), (1, "x", "A"), (1, "x", "B"), (1, "x", "tie")]
    data = votes([*first, (2, "x", "C"), (2, "x", "tie")])
    table = vote_distribution(data, candidates={1: ["A", "B"], 2: ["A", "B", "C"]})
    assert table["share"].tolist() == [*shares[0, :2], *shares[1]]


def test_jensen_shannon_on_share_rows_is_the_per_item_divergence():
    # The hand-worked items of test_jensen_shannon_hand_worked, as rows of shares.
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    assert jensen_shannon(p, q) == pytest.approx([1.0, 0.311278, 0.0], abs=1e-6)
    assert len(jensen_shannon(np.zeros((0, 2)), np.zeros((0, 2)))) == 0


def test_group_aware_consensus_from_counts_is_the_per_vote_score():
    # test_group_aware_consensus_hand_worked, counted: items × audiences (x, y).
    agree = np.array([[2, 1], [0, 0], [3, 2]])
    seen = np.array([[4, 2], [1, 0], [3, 2]])
    assert group_aware_consensus_from_counts(agree, seen) == pytest.approx([0.25, 1 / 6, 0.6])
