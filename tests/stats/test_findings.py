"""Sentences decided from the numbers: each says what its intervals say, and nothing else."""

from hiper_repro.stats.findings import findings


def _numbers(**extra) -> dict:
    base = {
        "meta.reference": "hiper",
        "meta.methods": ["hiper", "ppo", "ppo-pe"],
        "meta.envs": ["household"],
        "meta.horizons": [1, 2],
        "meta.threshold": 0.8,
        "study.format.hiper": "plan_execute",
        "study.format.ppo-pe": "plan_execute",
        "study.format.ppo": "flat",
    }
    for m, start in (("hiper", 0.4), ("ppo-pe", 0.4), ("ppo", 0.2)):
        for h in (1, 2):
            key = f"change.household.h{h}.{m}"
            base |= {f"{key}.start": start, f"{key}.end": start, f"{key}.change": 0.0,
                     f"{key}.ci_low": -0.05, f"{key}.ci_high": 0.05}  # fmt: skip
    return base | extra


def _vs(h: int, lo: float, hi: float, b: str = "ppo-pe") -> dict:
    key = f"change_vs.household.h{h}.hiper_vs_{b}"
    return {f"{key}.estimate": (lo + hi) / 2, f"{key}.ci_low": lo, f"{key}.ci_high": hi}


def test_hae_not_beating_flat_gae_is_said():
    text = findings(_numbers(**_vs(1, -0.1, 0.1), **_vs(2, -0.05, 0.2)))
    assert (
        text["text.estimator"]
        == "HAE does not beat flat GAE at this scale: in every cell the interval contains 0."
    )
    assert "household h2 +7.5 points [-5.0, +20.0]" in text["text.estimator_detail"]


def test_hae_beating_flat_gae_is_said_where_it_does():
    text = findings(_numbers(**_vs(1, -0.1, 0.1), **_vs(2, 0.05, 0.2)))["text.estimator"]
    assert text == "HAE beats flat GAE at household h2; in the other 1 cell the interval contains 0."
    text = findings(_numbers(**_vs(1, -0.3, -0.1), **_vs(2, -0.2, -0.01)))["text.estimator"]
    assert text == "Flat GAE beats HAE at household h1 and household h2."


def test_without_ppo_pe_the_estimator_is_not_separated_from_the_format():
    numbers = _numbers(**{"meta.methods": ["hiper", "ppo"]}, **_vs(1, 0.1, 0.3, "ppo"))
    text = findings(numbers)
    assert "did not run ppo-pe" in text["text.estimator"] and "not tested here" in text["text.estimator"]
    assert "Against ppo, which differs in format as well as estimator" in text["text.estimator_detail"]


def test_change_from_start_verdicts():
    quiet = findings(_numbers())
    assert (
        quiet["text.change"]
        == "No method's success changed reliably from its start: every interval contains 0."
    )
    assert "hiper: household h1 40.0% to 40.0% (+0.0 points [-5.0, +5.0])" in quiet["text.change_detail"]
    moved = findings(
        _numbers(**{"change.household.h2.ppo.ci_low": -0.3, "change.household.h2.ppo.ci_high": -0.1})
    )
    assert moved["text.change"] == "Fell reliably for ppo at household h2; every other interval contains 0."
    rose = {f"change.household.h{h}.{m}.{end}": v for h in (1, 2) for m in ("hiper", "ppo", "ppo-pe")
            for end, v in (("ci_low", 0.01), ("ci_high", 0.1))}  # fmt: skip
    every = findings(_numbers(**rose))["text.change"]
    # one phrase for the cells that share their methods, not "hiper at household h1, ppo at household h1, ..."
    assert every == "Success rose reliably for hiper, ppo and ppo-pe at household h1 and household h2."
    some = dict(rose, **{"change.household.h2.ppo.ci_low": -0.1})
    assert findings(_numbers(**some))["text.change"] == (
        "Success rose reliably for hiper, ppo and ppo-pe at household h1; hiper and ppo-pe at household h2; "
        "every other interval contains 0."
    )


def _final(lo: float, hi: float, b: str = "ppo-pe") -> dict:
    key = f"final_vs.hiper_vs_{b}"
    return {f"{key}.estimate": (lo + hi) / 2, f"{key}.ci_low": lo, f"{key}.ci_high": hi}


def test_a_decided_final_difference_is_said_where_the_change_is_not():
    numbers = _numbers(**_vs(1, -0.1, 0.1), **_vs(2, -0.05, 0.2), **_final(-0.072, -0.014))
    text = findings(numbers)
    assert text["text.estimator"] == (
        "The change from the start does not separate HAE from flat GAE (in every cell its interval contains 0), "
        "but final success does: hiper minus ppo-pe, pooled over cells, is -4.3 points [-7.2, -1.4], in flat "
        "GAE's favour."
    )
    assert (
        "Final success of hiper minus ppo-pe, pooled over cells: -4.3 points" in text["text.estimator_detail"]
    )
    assert text["text.headline"] == (
        "The strongest decided result favours ppo-pe: hiper minus ppo-pe in final success, pooled over cells, "
        "-4.3 points [-7.2, -1.4] (1 of 3 differences between hiper and another method are decided)."
    )


def test_the_headline_is_the_interval_farthest_from_0_in_either_direction():
    numbers = _numbers(**_vs(1, 0.02, 0.3), **_vs(2, -0.4, -0.1, "ppo"), **_final(-0.072, -0.014))
    assert findings(numbers)["text.headline"].startswith(
        "The strongest decided result favours ppo: hiper minus ppo in change from the start at household h2, "
        "-25.0 points [-40.0, -10.0] (3 of 3"
    )
    undecided = findings(_numbers(**_vs(1, -0.1, 0.1), **_final(-0.1, 0.05)))["text.headline"]
    assert undecided == (
        "No difference between hiper and another method is decided: all 2 intervals (final success pooled over "
        "cells, change from the start per cell) contain 0."
    )


def test_horizons_read_as_words():
    assert findings(_numbers())["text.horizons"] == "horizons 1 and 2"
    assert findings(_numbers(**{"meta.horizons": [1]}))["text.horizons"] == "horizon 1"


def test_warm_start_per_format():
    text = findings(_numbers())["text.warm_start"]
    assert (
        "the flat warm start (ppo) succeeds in 20.0% of episodes at household h1 and 20.0% at household h2"
        in text
    )
    assert "the Plan-Execute warm start (hiper, ppo-pe) succeeds in 40.0% of episodes" in text


def test_zero_width_improvement_is_explained():
    numbers = _numbers(**{"improvement.hiper_vs_ppo.estimate": 1.0, "improvement.hiper_vs_ppo.ci_low": 1.0,
                          "improvement.hiper_vs_ppo.ci_high": 1.0})  # fmt: skip
    text = findings(numbers)["text.improvement"]
    assert (
        "1.00 [1.00, 1.00] against ppo (zero width" in text and "every hiper run above every ppo run" in text
    )


def test_lab_trend_and_what_it_implies():
    numbers = _numbers(**{"theory.lams": [0.95, 1.0], "theory.gamma": 1.0, "theory.critic_noise": 0.0,
                          "theory.replicates": 8})  # fmt: skip
    for lam, first, last, direction in ((1.0, 0.39, 0.58, "rises"), (0.95, 0.4, 0.41, "level")):
        t = f"theory.trend.lam{lam:g}"
        numbers |= {f"{t}.first": first, f"{t}.last": last, f"{t}.k_first": 1, f"{t}.k_last": 4,
                    f"{t}.direction": direction}  # fmt: skip
    text = findings(numbers)["text.lab"]
    assert (
        "at lambda = 1 it rises from 0.39 at K=1 to 0.58 at K=4, so HAE's variance advantage over flat GAE shrinks"
        in text
    )
    assert "at lambda = 0.95 it moves from 0.40 at K=1 to 0.41 at K=4." in text
    assert findings(_numbers())["text.lab"] == "No exact-gradient lab dataset was given to the statistics."


def test_lab_crossover_says_where_hae_wins_and_what_the_runs_reached():
    numbers = _numbers(**{"theory.crossover.ks": [1, 2], "theory.crossover.lam_boundaries": [0.0, 1.0],
                          "theory.crossover.batch": 24, "theory.crossover.head": "low"})  # fmt: skip
    cells = {(0, 1): ("crosses", 0.12), (0, 2): ("hae_better_throughout", None), (1, 1): ("reversed", 0.05),
             (1, 2): ("gae_better_throughout", None)}  # fmt: skip
    for (lb, k), (status, ev) in cells.items():
        key = f"theory.crossover.lb{lb}.K{k}"
        numbers |= {f"{key}.status": status, f"{key}.ev": ev, f"{key}.ev_low": -0.2, f"{key}.ev_high": 0.3}
    numbers |= {
        "critic.hiper.low.estimate": 0.05,
        "critic.hiper.low.ci_low": 0.03,
        "critic.hiper.low.ci_high": 0.08,
    }
    text = findings(numbers)["text.lab_crossover"]
    assert "the paper's HAE (lam_boundary 0) beats flat GAE while the critic's explained variance is K=1: above 0.12; " \
        "K=2: everywhere down to -0.20" in text  # fmt: skip
    assert "HAE with lam_boundary 1 beats flat GAE while the critic's explained variance is K=1: below 0.05; " \
        "K=2: nowhere in -0.20..0.30" in text  # fmt: skip
    assert text.endswith("The runs' critics explained, pooled over training: hiper V_low 0.05 [0.03, 0.08].")
    assert findings(_numbers())["text.lab_crossover"].startswith(
        "The lab dataset has no critic-quality sweep"
    )


def test_horizon_contrasts_and_what_carries_a_keep_gain():
    numbers = _numbers(
        **{"meta.horizons": [1, 3], "meta.contrasts": ["hiper:ppo-pe", "hiper-keep:ppo-pe-keep"]}
    )
    for h, (e, lo, hi) in ((1, (-0.04, -0.09, 0.01)), (3, (0.06, 0.01, 0.12))):
        numbers |= {f"change_vs.household.h{h}.hiper_vs_ppo-pe.{k}": v for k, v in zip(("estimate", "ci_low", "ci_high"), (e, lo, hi))}  # fmt: skip
    numbers |= {"horizon_trend.household.hiper_vs_ppo-pe.estimate": 0.05, "horizon_trend.household.hiper_vs_ppo-pe.ci_low": 0.01,
                "horizon_trend.household.hiper_vs_ppo-pe.ci_high": 0.09}  # fmt: skip
    # at h3 only: the estimator under the shaping, and (stored the other way round) the shaping under HAE
    numbers |= {"change_vs.household.h3.hiper-keep_vs_ppo-pe-keep.estimate": 0.08, "change_vs.household.h3.hiper-keep_vs_ppo-pe-keep.ci_low": 0.02,
                "change_vs.household.h3.hiper-keep_vs_ppo-pe-keep.ci_high": 0.14, "change_vs.household.h3.hiper_vs_hiper-keep.estimate": 0.01,
                "change_vs.household.h3.hiper_vs_hiper-keep.ci_low": -0.05, "change_vs.household.h3.hiper_vs_hiper-keep.ci_high": 0.06}  # fmt: skip
    out = findings(numbers)
    assert (
        "hiper minus ppo-pe (household): h1 -4.0 points [-9.0, +1.0]; h3 +6.0 points [+1.0, +12.0]; slope +5.0 points "
        "[+1.0, +9.0] per extra subtask, which lies above 0. hiper-keep minus ppo-pe-keep (household): h3 +8.0 points"
    ) in out["text.horizon_contrasts"]
    assert out["text.keep_shaping"] == (
        "At household h3, under the same KEEP shaping HAE minus flat GAE is +8.0 points [+2.0, +14.0] and the shaping's "
        "effect on HAE (hiper-keep minus hiper) -1.0 points [-6.0, +5.0]: the estimator carries the gain, not the shaping."
    )
    assert findings(_numbers())["text.keep_shaping"].startswith(
        "The study did not train the KEEP-shaping arms"
    )


def test_one_cell_is_not_pooled():
    cell = {"final_success.household.h1.hiper.mean": 0.9, "final_success.household.h1.hiper.ci_low": 0.8,
            "final_success.household.h1.hiper.ci_high": 0.95, "meta.reps": 1000}  # fmt: skip
    pooled = {
        f"aggregate.final.iqm.hiper.{k}": v for k, v in (("estimate", 0.7), ("ci_low", 0.6), ("ci_high", 0.8))
    }
    one = findings(_numbers(**cell, **pooled, **{"meta.horizons": [1]}))["text.pooled"]
    assert one == (
        "In this study's one cell, household h1, the mean final success of the reference method (hiper) is 90.0% "
        "[80.0%, 95.0%] (95% bootstrap CI, 1000 replicates); the main results table gives every method."
    )
    two = findings(_numbers(**cell, **pooled))["text.pooled"]
    assert two.startswith(
        "Pooled over every environment and horizon, the interquartile mean of final success of"
    )
    assert "70.0% [60.0%, 80.0%] (95% stratified bootstrap CI, 1000 replicates)" in two


def test_the_headline_compares_final_success_within_one_format_only():
    """hiper (Plan-Execute) against flat ppo: the final-success gap is the warm starts' and is not a headline;
    the change from the start still is."""
    numbers = _numbers(**_final(0.4, 0.6, "ppo"))
    assert findings(numbers)["text.headline"].startswith("No difference between hiper and another method")
    numbers = _numbers(**_final(0.4, 0.6, "ppo"), **_vs(1, 0.05, 0.1, "ppo"))
    assert "hiper minus ppo in change from the start" in findings(numbers)["text.headline"]
