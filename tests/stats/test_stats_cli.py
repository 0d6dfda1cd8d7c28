"""`hiper-repro stats` end to end on synthetic merged traces: files, keys, numbers, verdicts."""

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hiper_repro import stats
from hiper_repro.stats import cli
from hiper_repro.stats.claims import CLAIMS
from hiper_repro.stats.report import Options, compute
from hiper_repro.stats.scores import run_scores
from hiper_repro.traces.store import write_tree


@pytest.fixture(scope="module")
def stats_dir(merged, tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    write_tree(merged, root / "merged.nc")
    argv = [
        "--merged",
        str(root / "merged.nc"),
        "--out",
        str(root / "out"),
        "--reps",
        "200",
        "--variance-reps",
        "100",
        "--threshold",
        "0.5",
    ]
    assert cli.main(argv) == 0
    return root / "out"


def test_numbers_match_run_scores(stats_dir, merged):
    numbers = json.loads((stats_dir / "numbers.json").read_text())
    final = run_scores(merged)["final"]
    expect = float(final.sel(method_name="hiper", env="shop", horizon=3).mean())
    assert numbers["final_success.shop.h3.hiper.mean"] == pytest.approx(expect)
    assert (
        numbers["final_success.shop.h3.hiper.ci_low"]
        <= expect
        <= numbers["final_success.shop.h3.hiper.ci_high"]
    )
    assert numbers["aggregate.final.mean.hiper.estimate"] == pytest.approx(
        float(final.sel(method_name="hiper").mean())
    )
    assert numbers["meta.methods"] == ["grpo", "hiper", "ppo"]
    for name in CLAIMS:
        assert numbers[f"claims.{name}.verdict"] in {"supported", "not supported", "inconclusive"}
    # The synthetic model builds in a higher success for HiPER, lower-variance A_low and settling switches.
    assert numbers["claims.higher_final_success.verdict"] == "supported"
    assert numbers["claims.hae_lower_variance.verdict"] == "supported"
    assert numbers["claims.switching_settles.verdict"] == "supported"
    # Two horizons: a trend per env and baseline; the claim is the least favourable slope among them.
    slopes = {k: v for k, v in numbers.items() if k.startswith("horizon_trend.") and k.endswith(".estimate")}
    assert len(slopes) == 4  # (household, shop) x (hiper vs grpo, hiper vs ppo)
    deciding = numbers["claims.larger_gains_at_longer_horizons.deciding"]
    method, env = deciding.split(" (")
    key = f"horizon_trend.{env.rstrip(')')}.hiper_vs_{method}"
    assert numbers["claims.larger_gains_at_longer_horizons.estimate"] == numbers[f"{key}.estimate"]
    assert numbers[f"{key}.n_horizons"] == 2 and numbers[f"{key}.h_max"] == 3


def test_tables_written(stats_dir):
    for name in (
        "run_scores",
        "final_success",
        "aggregate",
        "task_types",
        "improvement",
        "welch",
        "performance_profile",
        "learning_curves",
        "time_to_threshold",
        "sample_efficiency",
        "switch_rate",
        "variance_by_position",
        "variance_by_horizon",
        "claims",
        "change_from_start",
        "change_difference",
        "horizon_trend",
        "diagnostics",
        "diagnostics_phases",
    ):
        df = pd.read_csv(stats_dir / f"{name}.csv")
        assert len(df) > 0, name
    runs = pd.read_csv(stats_dir / "time_to_threshold.csv")
    assert len(runs) == 36 and set(runs["reached"]) <= {True, False}  # censored runs kept, not dropped
    var = pd.read_csv(stats_dir / "variance_by_position.csv")
    assert {"flat", "low", "high"} <= set(var.loc[var["method"] == "hiper", "estimator"])
    assert np.isfinite(var["variance"]).any()


def test_deterministic(merged):
    opts = Options(reps=50, variance_reps=20)
    _, a = compute(merged, opts)
    _, b = compute(merged, opts)
    assert json.dumps(a, default=str) == json.dumps(b, default=str)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="--merged: no such file"):
        cli.main(["--merged", str(tmp_path / "nope.nc"), "--out", str(tmp_path)])


def test_a_study_without_baselines_or_second_horizon_is_undecided():
    from hiper_repro.traces.synthetic import synthetic_merged

    tree = synthetic_merged(
        methods=("hiper",), horizons=(2,), seeds=(0, 1), iterations=3, episodes=4, eval_episodes=4
    )
    tables, numbers = compute(tree, Options(reps=20, variance_reps=10))
    assert numbers["claims.higher_final_success.verdict"] == "inconclusive"
    assert numbers["claims.larger_gains_at_longer_horizons.reason"].startswith("needs two horizons")
    assert not any(k.startswith("horizon_trend.") for k in numbers)
    assert numbers["claims.higher_final_success.estimate"] is None
    json.dumps(numbers, allow_nan=False)
    assert tables["welch"].empty


def test_unknown_reference(merged):
    with pytest.raises(ValueError, match="reference method 'hae'"):
        compute(merged, Options(reference="hae", reps=10))


def test_curve_replicates_are_an_option_of_their_own(merged):
    few, a = compute(merged, Options(reps=20, variance_reps=10, curve_reps=20))
    more, b = compute(merged, Options(reps=20, variance_reps=10, curve_reps=40))
    assert (a["meta.curve_reps"], b["meta.curve_reps"], a["meta.reps"]) == (20, 40, 20)
    for name in ("learning_curves", "switch_rate"):
        assert not few[name]["ci_low"].equals(more[name]["ci_low"]), name
    pd.testing.assert_frame_equal(few["aggregate"], more["aggregate"])


def test_one_place_for_the_bootstrap_defaults():
    """The pipeline schema's stats defaults and every statistic's own defaults are the Options'."""
    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    section = yaml.safe_load(schema.read_text())["properties"]["stats"]["properties"]
    options = Options()
    for key in ("reference", "k", "threshold", "reps", "curve_reps", "variance_reps", "ci", "seed"):
        assert section[key]["default"] == getattr(options, key), key
    assert tuple(section["contrasts"]["default"]) == options.contrasts
    functions = [stats.aggregate, stats.difference, stats.improvement, stats.welch_tests, stats.speedup]
    functions += [stats.performance_profile, stats.advantage_variance, stats.variance_ratio]
    for fn in functions:
        params = inspect.signature(fn).parameters
        reps = options.variance_reps if "variance" in fn.__name__ else options.reps
        assert (params["reps"].default, params["ci"].default, params["seed"].default) == (
            reps,
            options.ci,
            options.seed,
        ), fn.__name__


def test_theory_option_adds_the_labs_numbers(merged, tmp_path):
    """`--theory theory.nc`: the lab's ratios, their trend and the sentence on them join numbers.json."""
    from hiper_repro.theory.lab import Grid, run_grid, write_dataset

    write_tree(merged, tmp_path / "merged.nc")
    write_dataset(
        run_grid(
            Grid((1, 2), (1.0,), (1.0,), (0.0,), replicates=2, n_episodes=128, critic_ev=(1.0, 0.6)), seed=0
        ),
        tmp_path / "t.nc",
    )
    argv = ["--merged", str(tmp_path / "merged.nc"), "--theory", str(tmp_path / "t.nc"), "--out", str(tmp_path / "o"),
            "--reps", "20", "--curve-reps", "10", "--variance-reps", "10"]  # fmt: skip
    assert cli.main(argv) == 0
    numbers = json.loads((tmp_path / "o" / "numbers.json").read_text())
    assert numbers["theory.lams"] == [1.0] and numbers["theory.replicates"] == 2
    assert numbers["theory.trend.lam1.direction"] in {"rises", "falls", "level"}
    assert numbers["text.lab"].startswith(
        "In the lab (gamma 1, critic noise 0; medians over 2 random MDPs per K)"
    )
    assert len(pd.read_csv(tmp_path / "o" / "theory_ratios.csv")) == 2
    # the critic-quality sweep: where HAE's error crosses flat GAE's, per lam_boundary and K
    assert len(pd.read_csv(tmp_path / "o" / "theory_crossover.csv")) == 2 * 2 * 2  # lam_boundary, K, level
    points = pd.read_csv(tmp_path / "o" / "theory_crossover_points.csv")
    assert len(points) == 4 and set(points["status"]) <= {
        "crosses", "reversed", "hae_better_throughout", "gae_better_throughout"
    }  # fmt: skip
    assert numbers["theory.crossover.ks"] == [1, 2] and numbers["theory.crossover.batch"] == 24
    assert numbers["theory.crossover.lb0.K2.status"] in set(points["status"])
    assert numbers["text.lab_crossover"].startswith("In the lab (gradient error = squared bias + variance")
    with pytest.raises(ValueError, match="--theory: no such file"):  # `hiper-repro` turns it into exit 2
        cli.main(
            [
                "--merged",
                str(tmp_path / "merged.nc"),
                "--theory",
                str(tmp_path / "no.nc"),
                "--out",
                str(tmp_path),
            ]
        )


def test_diagnostics_and_change_numbers(stats_dir):
    numbers = json.loads((stats_dir / "numbers.json").read_text())
    phases = pd.read_csv(stats_dir / "diagnostics_phases.csv")
    row = phases.query(
        "method == 'hiper' and env == 'shop' and horizon == 3 and diagnostic == 'invalid_turn_rate'"
    )
    late = row[row["phase"] == "late"].iloc[0]
    assert numbers["diagnostics.shop.h3.hiper.invalid_turn_rate.late.estimate"] == pytest.approx(
        late["estimate"]
    )
    assert 0 <= numbers["critic.hiper.low.estimate"] <= 1 and numbers["critic.hiper.low.n_runs"] == 12
    assert "V_low explains" in numbers["claims.hae_lower_variance.note"]
    assert set(numbers["claims.sample_efficiency.n_at_first"]) <= {"grpo", "hiper", "ppo"}
    for key in ("text.warm_start", "text.change", "text.estimator", "text.diagnostics", "text.efficiency"):
        assert isinstance(numbers[key], str) and numbers[key], key
    assert len(pd.read_csv(stats_dir / "invalid_change.csv")) == 12  # 3 methods x 2 envs x 2 horizons


def test_malformed_contrast_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--merged", str(tmp_path / "m.nc"), "--out", str(tmp_path), "--contrasts", "hiper-ppo"])
    assert "--contrasts: contrast 'hiper-ppo'" in capsys.readouterr().err


def test_a_method_at_some_horizons_only():
    """The horizons preset trains its variants at the longest horizon only (method_horizons): the statistics
    compare them where they ran, fit no trend for them, and the claim rests on the pairs with two horizons."""
    from hiper_repro.traces.merge import merge_runs
    from hiper_repro.traces.synthetic import synthetic_writer

    cells = [("hiper", 1), ("ppo-pe", 1), ("hiper", 2), ("ppo-pe", 2), ("hiper-keep", 2), ("ppo-pe-keep", 2)]
    tree = merge_runs(
        [
            synthetic_writer(m, h, s, iterations=3, episodes=4, eval_episodes=16).tree()
            for m, h in cells
            for s in (0, 1)
        ]
    )
    tables, numbers = compute(tree, Options(reps=50, variance_reps=10, curve_reps=10))
    assert numbers["horizon_trend.household.hiper_vs_ppo-pe.n_horizons"] == 2
    assert not any(k.startswith("horizon_trend.household.hiper-keep") for k in numbers)
    assert "horizon_trend.household.hiper_vs_hiper-keep.estimate" not in numbers
    assert numbers["change_vs.household.h2.hiper-keep_vs_ppo-pe-keep.estimate"] is not None
    assert "change_vs.household.h1.hiper-keep_vs_ppo-pe-keep.estimate" not in numbers
    assert numbers["claims.larger_gains_at_longer_horizons.deciding"] == "ppo-pe"
    assert (
        "h2" in numbers["text.keep_shaping"]
        and "hiper-keep minus ppo-pe-keep (household): h2" in numbers["text.horizon_contrasts"]
    )
    assert tables["horizon_trend"][["method_a", "method_b"]].values.tolist() == [["hiper", "ppo-pe"]]
    json.dumps(numbers, allow_nan=False)
