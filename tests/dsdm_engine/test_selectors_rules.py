"""Selection rules: validation errors and exact outcomes on hand-made score vectors."""

import numpy as np
import pytest

from dsdm_engine.selectors.base import PoolView
from dsdm_engine.selectors.rules import SelectionRule, check_rule, rank


def make_pool() -> PoolView:
    # ids d0..d7; sources alternate a/b; tokens 10, 20, ..., 80
    return PoolView(
        ids=[f"d{i}" for i in range(8)],
        texts=[f"text {i}" for i in range(8)],
        sources=["a", "b"] * 4,
        n_tokens=np.arange(1, 9) * 10,
    )


SCORES = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6])  # best first: d1 d5 d3 d7 d2 d4 d6 d0


def ids(pool: PoolView, rule: SelectionRule, scores=SCORES, seed=0, **kw) -> list[str]:
    check_rule(pool, rule)
    order = rank(pool, scores, rule, rng=np.random.default_rng(seed), **kw)
    return [pool.ids[i] for i in order]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": -3}, "k must be a positive integer"),
        ({"k": 2.5}, "k must be a positive integer"),
        ({"k": True}, "k must be a positive integer"),
        ({"token_budget": -1}, "token_budget must be a positive integer"),
        ({"k": 2, "temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"k": 2, "temperature": -1.0}, "temperature must be a finite number > 0"),
        ({"k": 2, "temperature": float("nan")}, "temperature"),
        ({"k": 2, "temperature": float("inf")}, "temperature"),
        ({"k": 2, "mode": "pareto"}, "known modes: top_k, gumbel"),
        ({}, "needs k, token_budget or threshold"),
        ({"k": 2, "include": ["d1"], "exclude": ["d1"]}, "both included and excluded"),
        ({"k": 2, "include": ["d1", "d1"]}, "same id more than once"),
        ({"k": 2, "source_max_fraction": {"a": 1.5}}, r"must be in \[0, 1\]"),
        ({"k": 2, "source_max_count": {"a": -1}}, "must be an integer >= 0"),
        ({"threshold": 0.5, "source_max_fraction": {"a": 0.5}}, "needs k or token_budget"),
        ({"k": 2, "include": "d1"}, "not one string"),
    ],
)
def test_rule_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SelectionRule(**kwargs)


def test_k_larger_than_pool_after_excludes_is_an_error():
    pool = make_pool()
    check_rule(pool, SelectionRule(k=8))
    with pytest.raises(ValueError, match=r"k=9 is larger than the pool: 8 documents"):
        check_rule(pool, SelectionRule(k=9))
    with pytest.raises(ValueError, match="8 documents, 6 after excludes"):
        check_rule(pool, SelectionRule(k=7, exclude=["d0", "d1"]))


def test_unknown_source_in_quota_lists_pool_sources():
    with pytest.raises(
        ValueError, match=r"unknown source\(s\) in quotas: \['c'\]; pool sources: \['a', 'b'\]"
    ):
        check_rule(make_pool(), SelectionRule(k=2, source_max_count={"c": 1}))


def test_unknown_include_or_exclude_ids_are_errors():
    with pytest.raises(ValueError, match=r"include has 1 ids not in the pool, e.g. \['zz'\]"):
        check_rule(make_pool(), SelectionRule(k=2, include=["zz"]))
    with pytest.raises(ValueError, match="exclude has 1 ids"):
        check_rule(make_pool(), SelectionRule(k=2, exclude=["zz"]))


def test_more_includes_than_k_is_an_error():
    with pytest.raises(ValueError, match="include lists 3 ids but k=2"):
        check_rule(make_pool(), SelectionRule(k=2, include=["d0", "d2", "d4"]))


def test_top_k_is_exact_and_ties_keep_pool_order():
    pool = make_pool()
    assert ids(pool, SelectionRule(k=3)) == ["d1", "d5", "d3"]
    tied = np.array([1.0, 2.0, 2.0, 0.0, 2.0, 1.0, 0.0, 0.0])
    assert ids(pool, SelectionRule(k=4), scores=tied) == ["d1", "d2", "d4", "d0"]


def test_threshold_keeps_only_scores_at_or_above_it():
    pool = make_pool()
    assert ids(pool, SelectionRule(threshold=0.6)) == ["d1", "d5", "d3", "d7"]
    # with k larger than what passes, fewer documents come back (not an error)
    assert ids(pool, SelectionRule(k=6, threshold=0.75)) == ["d1", "d5"]


def test_token_budget_takes_a_prefix_that_never_exceeds_the_budget():
    pool = make_pool()  # d1=20, d5=60, d3=40, d7=80 tokens
    assert ids(pool, SelectionRule(token_budget=80)) == ["d1", "d5"]  # 80 exactly
    assert ids(pool, SelectionRule(token_budget=119)) == ["d1", "d5"]  # +40 would be 120
    assert ids(pool, SelectionRule(token_budget=120)) == ["d1", "d5", "d3"]
    assert ids(pool, SelectionRule(token_budget=10)) == []  # the first document alone is 20
    assert ids(pool, SelectionRule(k=1, token_budget=1000)) == ["d1"]  # whichever comes first


def test_source_quota_by_count_skips_over_quota_documents():
    pool = make_pool()  # ranking d1(b) d5(b) d3(b) d7(b) d2(a) d4(a) d6(a) d0(a)
    assert ids(pool, SelectionRule(k=4, source_max_count={"b": 2})) == ["d1", "d5", "d2", "d4"]
    assert ids(pool, SelectionRule(k=4, source_max_count={"b": 0, "a": 1})) == ["d2"]


def test_source_quota_by_fraction_of_k_and_of_tokens():
    pool = make_pool()
    quarter = SelectionRule(k=4, source_max_fraction={"b": 0.25})  # at most 1 of 4 from b
    assert ids(pool, quarter) == ["d1", "d2", "d4", "d6"]
    # b may hold at most 50% of 200 = 100 tokens: d1 (20) + d5 (60) = 80 fit, d3 (+40) does not;
    # d7 (80) does not fit either; then a: d2 (30) → total 110, d4 (50) → 160, d6 (70) → 230 > 200
    rule = SelectionRule(token_budget=200, source_max_fraction={"b": 0.5})
    assert ids(pool, rule) == ["d1", "d5", "d2", "d4"]


def test_include_is_forced_first_and_exclude_never_selected():
    pool = make_pool()
    rule = SelectionRule(k=3, include=["d0"], exclude=["d1"])
    assert ids(pool, rule) == ["d0", "d5", "d3"]
    eligible = np.ones(8, dtype=bool)
    eligible[[0, 5]] = False  # an include overrides the method's eligibility
    assert ids(pool, rule, eligible=eligible) == ["d0", "d3", "d7"]


def test_includes_over_budget_or_quota_are_errors():
    pool = make_pool()
    with pytest.raises(ValueError, match="over budget=50"):
        check_rule(pool, SelectionRule(token_budget=50, include=["d7"]))
    with pytest.raises(ValueError, match="quota of source 'a'"):
        check_rule(pool, SelectionRule(k=3, include=["d0", "d2"], source_max_count={"a": 1}))


def test_eligibility_leaving_fewer_than_k_is_an_error():
    eligible = np.array([True, True, False, False, False, False, False, False])
    with pytest.raises(ValueError, match="k=3 is larger than the 2 documents this method left"):
        ids(make_pool(), SelectionRule(k=3), eligible=eligible)


def test_nan_scores_are_rejected():
    scores = SCORES.copy()
    scores[2] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        ids(make_pool(), SelectionRule(k=2), scores=scores)


def test_gumbel_is_seeded_and_low_temperature_recovers_top_k():
    pool = make_pool()
    rule = SelectionRule(k=4, mode="gumbel")
    assert ids(pool, rule, seed=1) == ids(pool, rule, seed=1)
    draws = {tuple(ids(pool, rule, seed=s)) for s in range(10)}
    assert len(draws) > 1
    cold = SelectionRule(k=4, mode="gumbel", temperature=1e-4)
    assert ids(pool, cold, seed=3) == ["d1", "d5", "d3", "d7"]


def test_gumbel_first_pick_follows_softmax_of_score_over_temperature():
    pool = PoolView(["x", "y", "z"], ["", "", ""], ["s"] * 3, np.ones(3, dtype=int))
    scores = np.array([0.0, 1.0, 2.0])
    temperature = 2.0
    rule = SelectionRule(k=1, mode="gumbel", temperature=temperature)
    rng = np.random.default_rng(0)
    n = 4000
    firsts = [rank(pool, scores, rule, rng=rng)[0] for _ in range(n)]
    freq = np.bincount(firsts, minlength=3) / n
    expected = np.exp(scores / temperature) / np.exp(scores / temperature).sum()
    assert np.allclose(freq, expected, atol=0.03)  # ~4 standard errors at n = 4000


def test_rule_params_record_the_resolved_mode():
    params = SelectionRule(k=2, exclude=["d3"]).to_params(default_mode="gumbel")
    assert params["mode"] == "gumbel" and params["k"] == 2 and params["exclude"] == ["d3"]
