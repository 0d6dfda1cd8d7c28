"""Evaluation metrics on a hand-made rollout, and the `hiper-repro evaluate` entry point at toy size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hiper_repro.agent.evaluate import EVAL_TEMPERATURE, episode_metrics, evaluate, main, rows, summarize
from hiper_repro.agent.generation import GenerationConfig
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.agent.rollout import Rollout
from hiper_repro.envs import make_tasks, save_tasks


def _hand_made_rollout() -> Rollout:
    # Episode 0: 4 turns, won, switches at turns 0 and 2, one invalid turn. Episode 1: 2 turns, lost.
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    nan = torch.full((2, 4), float("nan"))
    return Rollout(
        mask=mask,
        rewards=torch.tensor([[0, 0, 0, 1.0], [0, 0, 0, 0]]),
        terminated=torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.bool),
        truncated=torch.tensor([False, True]),
        valid=torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.bool),
        well_formed=torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.bool),
        switch=torch.tensor([[1, 0, 1, 0], [1, 0, 0, 0]], dtype=torch.bool),
        subgoal_changed_on_keep=torch.zeros(2, 4, dtype=torch.bool),
        value_low=nan,
        value_high=nan,
        value_term=nan,
        value_low_prev=nan,
        switch_prob=nan,
        won=torch.tensor([True, False]),
        score=torch.tensor([1.0, 0.5]),
        turn_scores=torch.tensor([[0, 0, 0, 1.0], [0, 0.5, 0, 0]]),
        length=torch.tensor([4, 2]),
        task_ids=["a", "b"],
        task_types=["pick", "cool"],
        group_ids=torch.tensor([0, 1]),
        subgoals=[[], []],
        state_keys=[[], []],
        turns=[],
        horizons=[1, 2],
    )


def test_episode_metrics_by_hand():
    episodes = rows(episode_metrics(_hand_made_rollout(), "plan_execute"))
    # Switch rate counts turns after the first: episode 0 switches at turn 2 of turns 1..3.
    assert episodes[0] == pytest.approx(
        {
            "success": 1.0,
            "score": 1.0,
            "length": 4.0,
            "invalid_rate": 0.25,
            "switch_rate": 1 / 3,
            "segment_length": 2.0,
        }
        | {"task_id": "a", "task_type": "pick", "horizon": 1}
    )
    second = episodes[1]
    assert second["invalid_rate"] == 0.0 and second["segment_length"] == 2.0 and second["success"] == 0.0
    assert second["switch_rate"] == 0.0
    flat = rows(episode_metrics(_hand_made_rollout(), "flat"))
    assert flat[0]["switch_rate"] is None and flat[0]["segment_length"] is None
    summary = summarize(episodes)
    assert summary["overall"]["n"] == 2 and summary["overall"]["success"] == 0.5
    # pooled over turns: 1 invalid turn of episode 0's 4 and none of episode 1's, over all their turns
    turns = episodes[0]["length"] + episodes[1]["length"]
    assert summary["overall"]["invalid_turn_rate"] == pytest.approx(1 / turns)
    assert "invalid_rate" not in summary["overall"]
    assert set(summary["by_horizon"]) == {"1", "2"} and set(summary["by_task_type"]) == {"pick/h1", "cool/h2"}
    assert summarize(flat)["overall"]["switch_rate"] is None


def test_switch_rate_matches_the_training_metric():
    """One definition: the evaluation's switch rate equals the training summary's on the same turns."""
    from hiper_repro.train.records import rollout_summary

    ro = _hand_made_rollout()
    ro.length = ro.mask.sum(1)
    turns = {"mask": ro.mask.numpy(), "switch": ro.switch.numpy(), "valid": ro.valid.numpy()}
    turns["reward"] = ro.rewards.numpy()
    episodes = {k: ro.won.float().numpy() for k in ("success", "return", "length")}
    summary = rollout_summary({"turns": turns, "episodes": episodes}, "plan_execute")
    cols = episode_metrics(ro, "plan_execute")
    pooled = float((cols["switch_rate"] * (cols["length"] - 1)).sum() / (cols["length"] - 1).sum())
    assert summary["switch_rate"] == pytest.approx(pooled)


def test_evaluate_untrained_policy(tiny_base):
    policy = Policy.load(tiny_base, PolicyConfig())
    tasks = make_tasks("household", 1, "eval", 3, 0)
    result = evaluate(
        policy,
        tasks,
        "plan_execute",
        GenerationConfig(max_new_tokens=6, temperature=0.0, max_turns=2),
        batch_size=2,
    )
    assert len(result.episodes) == 3
    overall = result.summary["overall"]
    # Random weights never write the format: every turn invalid, no success, turn 0 is a switch.
    assert overall["success"] == 0.0 and overall["invalid_turn_rate"] == 1.0 and overall["length"] == 2.0
    assert overall["switch_rate"] == 0.0  # turn 1 of each has no switch word: KEEP
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(policy, tasks, "plan_execute", batch_size=0)


def test_cli_writes_json(tmp_path, tiny_base, capsys):
    Policy.load(tiny_base, PolicyConfig(fmt="flat", heads=("low",))).save(tmp_path / "policy")
    save_tasks(tmp_path / "eval.jsonl", make_tasks("household", 1, "eval", 2, 0))
    out = tmp_path / "eval.json"
    argv = ["--model", str(tmp_path / "policy"), "--tasks", str(tmp_path / "eval.jsonl"), "--format", "flat"]
    assert main([*argv, "--out", str(out), "--max-new-tokens", "4"]) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["overall"]["n"] == 2 and len(data["episodes"]) == 2
    assert data["temperature"] == EVAL_TEMPERATURE and data["seed"] == 0  # which sampling, in the file too
    with pytest.raises(SystemExit, match="2"):
        main(
            [
                "--model",
                str(tmp_path / "policy"),
                "--tasks",
                str(tmp_path / "eval.jsonl"),
                "--format",
                "plan_execute",
                "--out",
                str(out),
            ]
        )
    assert "built for flat" in capsys.readouterr().err


def test_cli_evaluates_a_plain_base_model_folder(tmp_path, tiny_base):
    """A base model (no agent.json) is wrapped for the requested format instead of failing."""
    save_tasks(tmp_path / "eval.jsonl", make_tasks("household", 1, "eval", 2, 0))
    out = tmp_path / "eval.json"
    argv = ["--model", str(tiny_base), "--tasks", str(tmp_path / "eval.jsonl"), "--format", "plan_execute"]
    assert main([*argv, "--out", str(out), "--max-new-tokens", "4"]) == 0
    assert json.loads(out.read_text())["format"] == "plan_execute"


def test_cli_says_which_temperature_and_defaults_to_the_pipelines(tmp_path, tiny_base, capsys):
    """`hiper-repro evaluate` prints the temperature it sampled at; its default is the pipeline's evaluation
    temperature and the trainer's secondary one, so a hand-run evaluation matches the pipeline's."""
    import yaml

    from hiper_repro.train.config import RolloutConfig

    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    section = yaml.safe_load(schema.read_text())["properties"]["evaluate"]["properties"]
    assert section["temperature"]["default"] == EVAL_TEMPERATURE == RolloutConfig().eval_temperature
    save_tasks(tmp_path / "eval.jsonl", make_tasks("household", 1, "eval", 2, 0))
    argv = ["--model", str(tiny_base), "--tasks", str(tmp_path / "eval.jsonl"), "--format", "flat",
            "--out", str(tmp_path / "e.json"), "--max-new-tokens", "4"]  # fmt: skip
    assert main(argv) == 0
    assert "2 episodes, sampled at temperature 0.4, noise seed 0" in capsys.readouterr().out
    assert main([*argv, "--temperature", "0"]) == 0
    assert "2 episodes, greedy (temperature 0)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "(default: 0.4)" in capsys.readouterr().out
