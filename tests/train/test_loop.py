"""End-to-end runs of the real loop on a tiny model: every method, traces, determinism, resume.

Tiny: tiny-xs policies fitted to the format for a few seconds (conftest), household horizon 1,
4 episodes of at most 3 turns, 2 iterations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from safetensors.torch import load_file

from hiper_repro import credit, methods_registry
from hiper_repro.agent.policy import Policy
from hiper_repro.traces import open_run, validate
from hiper_repro.train.cli import main as cli_main
from hiper_repro.train.config import build_config, save_config
from hiper_repro.train.loop import FAIL_ENV, InjectedFailure, train

from .conftest import tiny_config


def _strip(tree: xr.DataTree) -> xr.DataTree:
    """Drop the creation time, the only attr that differs between two otherwise identical runs."""
    tree = tree.copy()
    tree.attrs = {k: v for k, v in tree.attrs.items() if k != "created"}
    return tree


@pytest.mark.slow
@pytest.mark.parametrize(
    "method", ["hiper", "ppo", "ppo-pe", "grpo", "rloo", "gigpo", "hgigpo", "hiper-keep"]
)
def test_every_method_runs_and_learns_something(tiny_models, tmp_path, method):
    cfg = tiny_config(tiny_models, method, run={"eval_every": 0, "checkpoint_every": 2})
    out = train(cfg, tmp_path / method)
    df = pd.read_csv(out / "metrics.csv")
    assert df["iteration"].tolist() == [-1, 0, 1]  # -1: the starting policy's evaluation
    assert df["eval_success"].isna().tolist() == [False, True, False]  # at the start and the end only
    assert df["turns"].isna().tolist() == [True, False, False]
    df = df[df["iteration"] >= 0]
    assert df["grad_norm"].gt(0).all() and df["turns"].gt(0).all()
    assert (out / "done").is_file() and (out / "config.yaml").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["provenance"]["method_name"] == method and run["peak_rss_mb"] > 0
    tree = open_run(out / "traces.nc")
    validate(tree)
    assert tree.attrs["method_name"] == method and tree["turns"].sizes["iteration"] == 2
    # the policy's LM weights moved (tokens of every method carry a loss) ...
    start = load_file(str(tiny_models[cfg.fmt] / "model.safetensors"))
    end = load_file(str(out / "checkpoints" / "iter_000001" / "weights.safetensors"))
    # checkpoints hold the learner (policy, and a separate critic when there is one) by parameter name
    head = "policy.lm.lm_head.weight"
    name = head if head in end else next(k for k in end if k.startswith("policy.lm."))
    assert not torch.equal(end[name], start[name.removeprefix("policy.lm.")])
    # ... and critic-free methods trace no values
    has_values = bool(tree["turns"]["value_low"].notnull().any())
    assert has_values == methods_registry.get(method).has_critic
    # a variant trains under its overrides, recorded in the saved config
    saved = yaml.safe_load((out / "config.yaml").read_text())
    for section, values in methods_registry.get(method).overrides.items():
        assert {k: saved[section][k] for k in values} == dict(values)
    # the trained policy is saved as a folder `hiper-repro evaluate` loads, holding the final weights
    final = Policy.load(out / "policy")
    assert final.config.fmt == cfg.fmt
    assert torch.equal(final.lm.state_dict()[name.removeprefix("policy.lm.")], end[name])


@pytest.mark.slow
def test_hgigpo_trains_two_iterations_from_the_smoke_preset(tiny_models, tmp_path):
    """The pipeline's smoke preset (config/presets/smoke.yaml: training recipe cpu-tiny and its overrides) with
    method hgigpo, on the tiny fixture model and 8 household tasks: two iterations, every block trained."""
    smoke = yaml.safe_load((Path(__file__).parents[2] / "config" / "presets" / "smoke.yaml").read_text())
    data = {"recipe": smoke["train"]["recipe"], **smoke["train"]["overrides"]}
    data["model"] = {"path": str(tiny_models["plan_execute"])}
    data["env"] = {"name": "household", "horizon": 1, "n_train_tasks": 8}
    data["method"] = {"name": "hgigpo", "group_size": 2}
    data["run"] = data["run"] | {"eval_episodes": 4, "eval_every": 0}
    data["rollout"] = data["rollout"] | {"max_turns": 3}
    cfg = build_config(data)
    assert cfg.run.iterations == 2 and cfg.fmt == "plan_execute" and cfg.is_group
    out = train(cfg, tmp_path / "hgigpo")
    df = pd.read_csv(out / "metrics.csv")
    assert df["iteration"].tolist() == [-1, 0, 1]  # row -1: the evaluation before the first update
    assert df.query("iteration >= 0")["turns"].gt(0).all()
    turns = open_run(out / "traces.nc")["turns"]
    # the action tokens took hgigpo's action advantage on every real turn; switch advantages exist on
    # decisions (t >= 1) only
    real = turns["mask"].astype(bool)
    assert bool(turns["adv_action"].where(real).notnull().sum() == real.sum())
    assert bool(turns["adv_switch"].isel(turn=0).isnull().all())


@pytest.mark.slow
def test_lora_run_saves_adapters_on_the_starting_model(tiny_models, tmp_path):
    cfg = tiny_config(tiny_models, "ppo", model={"lora_rank": 4}, run={"iterations": 1, "eval_every": 0})
    out = train(cfg, tmp_path / "lora")
    final = Policy.load(out / "policy")
    assert final.is_lora and (out / "policy" / "adapter").is_dir()
    assert not (out / "policy" / "model.safetensors").exists()  # adapters only, not a copy of the model


@pytest.mark.slow
def test_hae_in_traces_matches_recomputation(tiny_models, tmp_path):
    cfg = tiny_config(tiny_models, "hiper", run={"eval_every": 0, "checkpoint_every": 2})
    turns = open_run(train(cfg, tmp_path / "run") / "traces.nc")["turns"].to_dataset()
    for it in turns["iteration"].values:
        ds = turns.sel(iteration=it)
        mask = torch.from_numpy(ds["mask"].values)
        fl = {
            k: torch.from_numpy(ds[k].values.astype("float32"))
            for k in ds.data_vars
            if ds[k].dtype.kind == "f"
        }
        bo = {k: torch.from_numpy(ds[k].values.astype(bool)) & mask for k in ("switch", "done")}
        h = credit.hae(
            fl["reward"], fl["value_low"], fl["value_high"], bo["switch"], mask, bo["done"], 1.0, 1.0, 0.95
        )
        starts = h.segment_start
        torch.testing.assert_close(fl["adv_low"][mask], h.adv_low[mask], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fl["adv_high"][starts], h.adv_high[starts], rtol=1e-5, atol=1e-6)
        assert fl["adv_high"][mask & ~starts].isnan().all()
        flat, _ = credit.gae(fl["reward"], fl["value_low"], mask, bo["done"], 1.0, 1.0)
        torch.testing.assert_close(fl["adv_flat"][mask], flat[mask], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_determinism_and_resume_after_a_crash(tiny_models, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_models, "hiper")
    a = open_run(train(cfg, tmp_path / "a") / "traces.nc")
    b = open_run(train(cfg, tmp_path / "b") / "traces.nc")
    xr.testing.assert_identical(_strip(a), _strip(b))  # same config and seed: identical traces

    # killed in the middle of iteration 1 (after its rollout, before its update), then rerun
    monkeypatch.setenv(FAIL_ENV, "1:update")
    with pytest.raises(InjectedFailure):
        train(cfg, tmp_path / "c")
    assert not (tmp_path / "c" / "done").exists()
    monkeypatch.delenv(FAIL_ENV)
    c = open_run(train(cfg, tmp_path / "c") / "traces.nc")
    xr.testing.assert_identical(_strip(a), _strip(c))
    ma, mc = (pd.read_csv(tmp_path / d / "metrics.csv") for d in ("a", "c"))
    cols = ["iteration", "success", "loss_policy", "loss_value_low", "kl_ref", "eval_success"]
    pd.testing.assert_frame_equal(ma[cols], mc[cols])
    assert len(json.loads((tmp_path / "c" / "run.json").read_text())["starts"]) == 2


@pytest.mark.slow
def test_cli_runs_resumes_and_rejects_unknown_keys(tiny_models, tmp_path, capsys):
    cfg = tiny_config(tiny_models, "ppo", run={"iterations": 1, "eval_every": 0})
    save_config(cfg, tmp_path / "c.yaml")
    out = tmp_path / "run"
    assert cli_main(["--config", str(tmp_path / "c.yaml"), "--out", str(out)]) == 0
    assert (out / "done").is_file()
    summary = capsys.readouterr().out.strip().splitlines()[-1]  # printed with the progress bar off
    assert summary.startswith("ppo household h1 seed 0: eval success ") and f"outputs in {out}" in summary
    assert cli_main(["--config", str(tmp_path / "c.yaml"), "--out", str(out)]) == 0  # finished: no-op
    assert "finished" in capsys.readouterr().err
    assert cli_main(["--config", str(tmp_path / "c.yaml"), "--out", str(out), "--set", "ppo.nope=1"]) == 2
    assert "ppo.nope" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_train_reports_every_phase(tiny_models, tmp_path):
    from hiper_repro.train.bench import main as bench_main

    out = tmp_path / "bench.json"
    model = str(tiny_models["base"].parent / "{format}")
    args = ["--model", model, "--iterations", "2", "--json", str(out)]
    args += ["--set", "env.horizon=1", "--set", "rollout.episodes=4", "--set", "rollout.max_turns=2"]
    args += ["--set", "run.eval_episodes=4", "--set", "env.n_train_tasks=8"]
    assert bench_main(args) == 0
    summary = json.loads(out.read_text())
    per = summary["seconds_per_iteration"]
    assert set(per) == {"rollout", "credit", "update", "eval", "trace", "total", "iteration"}
    assert per["rollout"] > 0 and per["update"] > 0 and per["eval"] > 0
    assert per["iteration"] == pytest.approx(per["total"] - per["eval"], abs=2e-3)
    assert summary["peak_rss_mb"] > 100 and summary["turns_per_iteration"] > 0
    # the roofline: every phase that runs the policy did work, at a rate below the measured peak
    assert summary["matmul_peak_gflop_per_s"] > 0
    for phase in ("rollout", "credit", "update", "eval"):
        r = summary["roofline"][phase]
        assert 0 < r["gflop"] <= r["gflop_executed"] and 0 < r["share_of_peak"] < 1, phase
