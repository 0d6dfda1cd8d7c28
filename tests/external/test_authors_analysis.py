"""The re-analysis of veRL runs on synthetic logs with known answers, and `hiper-repro analyse-verl` on the
vendored logs (numbers checked against the raw text)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr

from hiper_repro.cli import main as cli_main
from hiper_repro.external.analysis import Options, analyse, arms, switch_settling, timing
from hiper_repro.external.figures import REASONS
from hiper_repro.external.runs import merge_verl_runs
from hiper_repro.external.verl import read_verl_log
from hiper_repro.paper import Filler

from .conftest import REPO, VENDORED, synthetic_log, text_of

# Rates sit a little above each threshold they cross: a rate exactly at it would cross in half the redraws.
FLAT_RATES = {0: 0.1, 50: 0.51, 100: 0.71}  # reaches 0.5 at step 50, 0.7 at 100, never 0.8
FAST_RATES = {0: 0.1, 25: 0.51, 50: 0.71, 75: 0.85}  # 0.5 at 25, 0.7 at 50, 0.8 at 75
SLOW_RATES = {0: 0.1, 25: 0.51, 50: 0.6}  # 0.5 at 25, never 0.7


def build(tmp_path, runs: list[tuple], val_episodes: int = 128) -> xr.Dataset:
    """Merged dataset of synthetic logs; each run is (name, estimator, seed, rates, extra, switches)."""
    logs = [
        synthetic_log(
            tmp_path / f"{name}.log", est, seed, rates, extra=extra, switches=sw, val_episodes=val_episodes
        )
        for name, est, seed, rates, extra, sw in runs
    ]
    return merge_verl_runs([read_verl_log(p) for p in logs])


@pytest.fixture
def study(tmp_path) -> xr.Dataset:
    """One flat run; two HiPER runs of one variant (switching falls 0.8 -> 0.4), one of another."""
    return build(tmp_path, [
        ("flat", "gae", 0, FLAT_RATES, "", None),
        ("h5", "hgae", 5, FAST_RATES, "algorithm.hgae.keep_penalty=-0.3", (0.8, 0.4)),
        ("h6", "hgae", 6, FAST_RATES, "algorithm.hgae.keep_penalty=-0.3", (0.8, 0.4)),
        ("h2", "hgae", 2, SLOW_RATES, "algorithm.hgae.keep_penalty=-0.1", (0.8, 0.4)),
    ])  # fmt: skip


OPTS = Options(reps=400)


class TestArms:
    def test_headline_variant_has_the_most_runs(self, study):
        a = arms(study, OPTS)
        assert a.baseline == ["flat"] and a.main == ["h5", "h6"] and a.variant == "keep_penalty=-0.3"
        assert a.subsets == {
            "main": ["h5", "h6"],
            "all": ["h5", "h6", "h2"],
            "h5": ["h5"],
            "h6": ["h6"],
            "h2": ["h2"],
        }

    def test_chosen_variant(self, study):
        assert arms(study, Options(variant="keep_penalty=-0.1")).main == ["h2"]
        with pytest.raises(ValueError, match="variant 'nope' has no hiper run"):
            arms(study, Options(variant="nope"))


class TestEfficiency:
    def test_ratio_without_evaluation_noise_is_exact(self, tmp_path):
        """With a million episodes per validation the binomial noise vanishes: the ratio is 100/50 = 2."""
        runs = [("flat", "gae", 0, FLAT_RATES, "", None), ("h5", "hgae", 5, FAST_RATES, "", None),
                ("h6", "hgae", 6, FAST_RATES, "", None)]  # fmt: skip
        ds = build(tmp_path, runs, val_episodes=10**6)
        eff = analyse(ds, OPTS)[0]["efficiency"].set_index(["threshold", "subset"])
        row = eff.loc[(0.7, "main")]
        assert (row["estimate"], row["ci_low"], row["ci_high"], row["bound"]) == (2.0, 2.0, 2.0, "exact")
        assert (row["baseline_step"], row["subset_step"]) == (100.0, 50.0)

    def test_censoring_makes_bounds(self, study):
        eff = analyse(study, OPTS)[0]["efficiency"].set_index(["threshold", "subset"])
        lower = eff.loc[(0.8, "main")]  # flat never reaches 0.8: restricted at its last step, 100
        assert lower["bound"] == "lower" and lower["estimate"] == pytest.approx(100 / 75)
        assert not lower["baseline_reached"] and lower["baseline_censored_share"] > 0.5
        assert eff.loc[(0.7, "h2"), "bound"] == "upper"  # flat reaches 0.7, h2 never does
        assert eff.loc[(0.8, "h2"), "bound"] == "none"
        assert eff.loc[(0.5, "all"), "estimate"] == pytest.approx(50 / 25)

    def test_single_flat_run_still_has_evaluation_noise(self, study):
        """The flat arm is one run: its interval must come from the 128-episode binomial noise, about
        +-1.96 * sqrt(0.71 * 0.29 / 128) = +-0.08 around its final success of 0.71."""
        arms_table = analyse(study, OPTS)[0]["arms"].set_index(["arm", "score"])
        final = arms_table.loc[("baseline", "final")]
        assert final["estimate"] == pytest.approx(0.71)
        assert 0.12 < final["ci_high"] - final["ci_low"] < 0.20
        assert np.isnan(arms_table.loc[("baseline", "best"), "ci_low"])  # best-of-many: no interval


class TestClaims:
    def test_verdicts(self, study):
        tables, numbers = analyse(study, OPTS)
        verdicts = dict(zip(tables["claims"]["claim"], tables["claims"]["verdict"]))
        assert verdicts["higher_final_success"] == "supported"  # 0.85 vs 0.71, n = 128 each
        assert verdicts["sample_efficiency"] == "supported"  # >= 100/75 at 0.8
        assert verdicts["switching_settles"] == "supported"  # 0.8 -> 0.4 switches per turn
        assert verdicts["hae_lower_variance"] == verdicts["larger_gains_at_longer_horizons"] == "inconclusive"
        assert numbers["authors.claims.sample_efficiency.null"] == 1.0
        assert "lower bound" in numbers["authors.claims.sample_efficiency.measure"]

    def test_reversed_study_is_not_supported(self, tmp_path):
        rising = (0.4, 0.8)
        runs = [("flat", "gae", 0, FAST_RATES, "", None), ("h5", "hgae", 5, FLAT_RATES, "", rising),
                ("h6", "hgae", 6, FLAT_RATES, "", rising)]  # fmt: skip
        ds = build(tmp_path, runs)
        verdicts = dict(zip(*(analyse(ds, OPTS)[0]["claims"][c] for c in ("claim", "verdict"))))
        assert verdicts["higher_final_success"] == "not supported"
        assert verdicts["switching_settles"] == "not supported"

    def test_without_a_baseline_the_keys_still_exist(self, tmp_path):
        ds = build(tmp_path, [("h5", "hgae", 5, FAST_RATES, "", None)])
        tables, numbers = analyse(ds, OPTS)
        assert numbers["authors.arm.baseline.final.estimate"] is None
        assert numbers["authors.ratio.claim.main.estimate"] is None
        assert numbers["authors.claims.higher_final_success.verdict"] == "inconclusive"
        assert (
            numbers["authors.claims.switching_settles.verdict"] == "inconclusive"
        )  # no switch counts logged
        assert tables["efficiency"].empty


class TestCurvesAndDynamics:
    def test_bands_and_task_types(self, study):
        tables, _ = analyse(study, OPTS)
        curves = tables["curves"].set_index(["arm", "step"])
        assert curves.loc[("main", 100), "estimate"] == pytest.approx(0.85)
        assert curves.loc[("baseline", 100), "ci_low"] < 0.71 < curves.loc[("baseline", 100), "ci_high"]
        types = tables["task_types"].set_index(["task_type", "arm", "step"])
        assert np.isnan(types.loc[("pick", "baseline", 100), "ci_low"])  # one run, per-type counts unknown
        assert types.loc[("pick", "main", 100), "estimate"] == pytest.approx(0.85)

    def test_switch_settling(self, study):
        s = switch_settling(study, ["h5", "h6"], OPTS)
        assert s["early"] > 0.7 and s["late"] < 0.5 and s["estimate"] == pytest.approx(s["early"] - s["late"])
        assert s["ci_low"] > 0 and s["n_runs"] == 2 and s["window_steps"] == 25
        assert switch_settling(study, ["flat"], OPTS) == {}

    def test_timing(self, study):
        t = timing(study).set_index("run")
        assert t.loc["flat", "gen"] == 100.0 and t.loc["flat", "step_s"] == 130.0  # validation steps excluded
        assert t.loc["flat", "validation_s"] == 50.0 and t.loc["flat", "other"] == pytest.approx(10.0)
        assert t.loc["flat", "gpu_s_per_episode"] == pytest.approx(130 * 4 / 128)

    def test_same_seed_same_numbers_whatever_the_order(self, study):
        _, a = analyse(study, OPTS)
        _, b = analyse(study.isel(run=[3, 1, 0, 2]), OPTS)
        assert json.dumps(a, sort_keys=True) == json.dumps(
            {**b, "authors.meta.runs": a["authors.meta.runs"]}, sort_keys=True
        )


def first_step_at(text: str, threshold: float) -> int | None:
    """First validation step whose success reaches ``threshold``, read from the raw text."""
    for line in text.splitlines():
        m = re.search(r"step:(\d+) - .*? - val/success_rate:([\d.]+)", line)
        if m and float(m.group(2)) >= threshold:
            return int(m.group(1))
    return None


@pytest.mark.slow
def test_analyse_command_on_the_vendored_logs(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "analysis"
    logs = sorted(str(p) for p in VENDORED.glob("*.log.gz"))
    assert cli_main(["import-verl", *logs, "--out", str(runs)]) == 0
    assert (
        cli_main(["analyse-verl", "--merged", str(runs / "merged.nc"), "--out", str(out), "--reps", "100"])
        == 0
    )
    numbers = json.loads((out / "numbers.json").read_text())
    for log in logs:
        run = log.rsplit("/", 1)[1].removesuffix(".log.gz")
        text = text_of(VENDORED / f"{run}.log.gz")
        expected = first_step_at(text, 0.7)
        assert numbers[f"authors.run.{run}.t70_reached"] == (expected is not None)
        if expected is not None:
            assert numbers[f"authors.run.{run}.t70_step"] == expected
        final = re.findall(r"step:150 - .*? - val/success_rate:([\d.]+)", text)
        assert numbers[f"authors.run.{run}.final"] == float(final[0])
    assert numbers["authors.meta.baseline_runs"] == ["run_alfworld"]
    assert numbers["authors.meta.main_runs"] == ["run_alfworld_seed5_1_5b", "run_alfworld_seed6_1_5b"]
    index = json.loads((out / "figures" / "index.json").read_text())
    assert index["skipped"] == {} and len(index["drawn"]) == 5
    assert all((out / "figures" / f"{name}.png").is_file() for name in index["drawn"])
    for table in ("runs", "efficiency", "claims", "published", "timing"):
        assert (out / "tables" / f"authors_{table}.md").is_file()
    printed = capsys.readouterr().out
    assert "run_alfworld (ppo, seed 0): >=50%: step 90, >=70%: step 140, >=80%: never" in printed
    # the paper's section fills from these files alone: every key, table and figure it names exists
    manuscript = (REPO / "paper" / "manuscript.md").read_text()
    section = manuscript[manuscript.index("## The authors' runs") : manuscript.index("## What differs")]
    filled = Filler(numbers, [out / "tables"], [out / "figures"]).fill(section)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", filled)  # base64 may spell "n/a"
    assert "{{" not in text and "n/a" not in text and text.count("](") == 5


def test_analyse_command_errors(tmp_path, capsys):
    assert cli_main(["analyse-verl", "--merged", str(tmp_path / "none.nc"), "--out", str(tmp_path)]) == 2
    assert "none.nc: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(
            ["analyse-verl", "--merged", "x", "--out", "y", "--thresholds", "0.5", "--claim-threshold", "0.8"]
        )
    assert "--claim-threshold 0.8 must be one of --thresholds" in capsys.readouterr().err


def test_analyse_command_on_one_arm_says_what_it_cannot_draw(tmp_path):
    log = synthetic_log(tmp_path / "h5.log", "hgae", 5, FAST_RATES)
    runs, out = tmp_path / "runs", tmp_path / "analysis"
    assert cli_main(["import-verl", str(log), "--out", str(runs)]) == 0
    assert (
        cli_main(["analyse-verl", "--merged", str(runs / "merged.nc"), "--out", str(out), "--reps", "50"])
        == 0
    )
    skipped = json.loads((out / "figures" / "index.json").read_text())["skipped"]
    assert skipped == {
        "authors_sample_efficiency": f"efficiency: {REASONS['efficiency']}",
        "authors_switching": "switching: no run logs episode/switch_count",
    }
    assert "lack a flat PPO arm" in (out / "tables" / "authors_efficiency.md").read_text()
