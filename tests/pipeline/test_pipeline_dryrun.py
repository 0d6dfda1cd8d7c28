"""A dry run of every preset schedules exactly the jobs its config implies."""

from __future__ import annotations

import pytest
import yaml
from snakemake_runner import PRESETS, copy_workflow, job_counts, load_preset, snakemake


@pytest.fixture
def workflow_copy(tmp_path):
    return copy_workflow(tmp_path / "wf")


def expected_jobs(preset: dict) -> dict[str, int]:
    """Jobs of a fresh run, counted from the preset's lists (one formula per rule)."""
    envs, horizons = len(preset["envs"]), len(preset["horizons"])
    methods, seeds = preset["methods"], len(preset["seeds"])
    formats = len({"flat" if m == "ppo" else "plan_execute" for m in methods})
    at = preset.get("method_horizons", {})  # a method named there trains at its horizons only
    runs = envs * seeds * sum(len(at.get(m, preset["horizons"])) for m in methods)
    # Task splits exist for the study's horizons and for those of the warm start's demonstrations.
    task_horizons = len(set(preset["horizons"]) | set(preset.get("warmstart", {}).get("horizons") or []))
    return {
        "tasks": envs * task_horizons * 2,
        "model": envs * formats,
        "warmstart_config": envs * formats,
        "warmstart": envs * formats,
        "train_config": runs,
        "train": runs,
        "evaluate": envs * horizons * formats,
        "theory": 1,
        "aggregate": 1,
        "stats": 1,
        "figures": 1,
        "import_verl": 1,
        "analyse_verl": 1,
        "paper": 1,
        "all": 1,
    }


def place_weights(workflow_copy, preset: str) -> None:
    """A stand-in for the pretrained weights a preset names as a local folder (the pre-flight check
    looks for the folder and its config.json; a dry run loads nothing)."""
    name = load_preset(preset)["model"]["name"]
    if "/" in name:
        (workflow_copy / name).mkdir(parents=True)
        (workflow_copy / name / "config.json").write_text("{}")


# The full preset's 540 runs take its dry run past 20 s: it runs with the slow set.
@pytest.mark.parametrize(
    "preset", [pytest.param(p, marks=pytest.mark.slow) if p == "full" else p for p in PRESETS]
)
def test_dry_run_lists_expected_jobs(workflow_copy, preset):
    """Each preset by name; quick as the default, with no --config at all."""
    place_weights(workflow_copy, preset)
    chosen = [] if preset == "quick" else ["--config", f"preset={preset}"]
    result = snakemake(workflow_copy, "-n", "--quiet", "rules", *chosen)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == expected_jobs(load_preset(preset))


def test_dry_run_flags_missing_weights(workflow_copy):
    """The gpu preset's weights folder is missing: the dry run stops at load naming the key, the folder
    and the guide, before any job is planned; an empty folder is not taken for a checkpoint."""
    name = load_preset("gpu")["model"]["name"]
    result = snakemake(workflow_copy, "-n", "--config", "preset=gpu")
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "Job stats" not in said
    assert f"invalid config at model.name={name}: no model folder '{name}'" in said
    assert "docs/CLUSTER.md" in said
    (workflow_copy / name).mkdir(parents=True)
    result = snakemake(workflow_copy, "-n", "--config", "preset=gpu")
    assert result.returncode != 0 and "a folder without config.json" in result.stdout + result.stderr


def test_preset_selectable_by_configfile(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--quiet", "rules", "--configfile", "config/presets/smoke.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == expected_jobs(load_preset("smoke"))


def test_quick_preset_is_the_designed_study():
    """Household, tiny model, hiper vs ppo-pe (estimator) and ppo (format), gigpo vs hgigpo (the critic-free
    pair), 3 seeds, horizon 1: 15 runs, each evaluated on at least 256 fixed tasks."""
    quick = load_preset("quick")
    assert quick["envs"] == ["household"] and quick["model"]["name"].startswith("tiny")
    assert set(quick["methods"]) == {"hiper", "ppo-pe", "ppo", "gigpo", "hgigpo"}
    assert len(quick["seeds"]) == 3 and quick["horizons"] == [1]
    assert quick["tasks"]["n_eval"] >= 256
    assert expected_jobs(quick)["train"] == 15


def test_horizons_preset_is_the_designed_study():
    """Household h1-3, the 2x2 of {critic, critic-free} x {flat, hierarchical} at every horizon, the paper's
    HAE and the KEEP-shaping arms at the longest, 3 seeds, the quick study's 256 fixed tasks: 45 runs."""
    study = load_preset("horizons")
    assert study["envs"] == ["household"] and study["horizons"] == [1, 2, 3]
    everywhere = {"hiper", "ppo-pe", "gigpo", "hgigpo"}
    assert set(study["methods"]) == everywhere | {"hiper-paper", "hiper-keep", "ppo-pe-keep"}
    assert not everywhere & set(study["method_horizons"])
    assert all(3 in hs for hs in study["method_horizons"].values())
    assert (
        len(study["seeds"]) >= 3
        and study["tasks"]["n_eval"] == load_preset("quick")["tasks"]["n_eval"] == 256
    )
    assert study["warmstart"]["horizons"] == [1, 2, 3] and study["theory"]["grid"] == "horizons"
    assert expected_jobs(study)["train"] == 45


def test_method_horizons_must_name_a_method_and_a_study_horizon(workflow_copy):
    result = snakemake(
        workflow_copy,
        "-n",
        "--quiet",
        "rules",
        "--config",
        "preset=horizons",
        "method_horizons={hiper-keep: [4]}",
    )
    assert result.returncode != 0
    assert "invalid config at method_horizons.hiper-keep" in result.stdout + result.stderr


def test_full_preset_covers_the_study():
    full = load_preset("full")
    assert set(full["envs"]) == {"household", "shop", "textworld"}
    assert full["horizons"] == [1, 2, 3, 4, 5, 6]
    assert set(full["methods"]) == {"hiper", "ppo", "ppo-pe", "grpo", "rloo", "gigpo"}
    assert len(full["seeds"]) >= 5


def test_config_override_narrows_the_study(workflow_copy):
    result = snakemake(
        workflow_copy, "-n", "--quiet", "rules", "--config", "preset=smoke", "seeds=[7]", "horizons=[3]"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 2  # hiper + ppo, one horizon, one seed
    assert counts["tasks"] == 2


def test_official_alfworld_games_reach_the_tasks_rule(workflow_copy):
    """`tasks.alfworld_data` becomes a quoted `--data-path` per split; other envs never get one."""
    result = snakemake(
        workflow_copy,
        "-n",
        "-p",
        "--config",
        "preset=smoke",
        "envs=[alfworld, household]",
        "horizons=[1]",
        "tasks={alfworld_data: '/data/alf world/json_2.1.1'}",
        "--",
        "results/smoke/tasks/alfworld/h1/eval.jsonl",
        "results/smoke/tasks/alfworld/h1/train.jsonl",
        "results/smoke/tasks/household/h1/eval.jsonl",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    prefix = "Shell command: "
    commands = [ln for ln in result.stdout.splitlines() if ln.startswith(f"{prefix}hiper-repro tasks")]
    assert len(commands) == 3
    for command in commands:
        if "--env alfworld" in command and "--split eval" in command:
            assert "--data-path '/data/alf world/json_2.1.1/valid_unseen'" in command
        elif "--env alfworld" in command:
            assert "--data-path '/data/alf world/json_2.1.1/train'" in command
        else:
            assert "--data-path" not in command


def planned_paths(output: str) -> set[str]:
    """Every output and log path a dry run lists (`output: a, b` and `log: c` lines)."""
    paths = set()
    for line in output.splitlines():
        key, _, rest = line.strip().partition(": ")
        if key in ("output", "log"):
            paths |= {p.strip() for p in rest.split(",") if p.strip()}
    return paths


def test_each_preset_writes_under_its_own_results_folder(workflow_copy):
    """Two presets plan disjoint files, every one under results/{preset}/: a preset switch can neither redo
    nor overwrite the other's work."""
    planned = {}
    for preset in ("smoke", "quick"):
        result = snakemake(workflow_copy, "-n", "--config", f"preset={preset}")
        assert result.returncode == 0, result.stderr[-3000:]
        planned[preset] = planned_paths(result.stdout + result.stderr)
        assert planned[preset], "the dry run listed no output"
        outside = sorted(p for p in planned[preset] if not p.startswith(f"results/{preset}/"))
        assert not outside, f"{preset}: outputs outside results/{preset}/: {outside[:5]}"
    assert not planned["smoke"] & planned["quick"]


@pytest.mark.slow
def test_method_variants_on_the_method_axis(workflow_copy):
    """hgigpo and the registry's variants are valid methods: a dry run plans their runs (the Plan-Execute
    warm start for all of them), and each run's resolved config carries its variant's overrides, which win
    over `train.overrides`."""
    variants = ["hgigpo", "hiper-paper", "hiper-keep", "ppo-pe-keep"]
    tiny = workflow_copy / "variants.yaml"
    tiny.write_text(
        yaml.safe_dump(
            {
                "preset": "smoke",
                "horizons": [1],
                "seeds": [0],
                "methods": variants,
                "train": {"overrides": {"shaping": {"keep_penalty": 0.05}}},
            }
        )
    )
    result = snakemake(workflow_copy, "-n", "--quiet", "rules", "--configfile", str(tiny))
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 4 and counts["train_config"] == 4 and counts["warmstart"] == 1
    # the config files are local rules without inputs: write them for real and read what each run trains
    targets = [f"results/smoke/configs/train/household/h1/{m}/seed0.yaml" for m in variants]
    result = snakemake(workflow_copy, "--cores", "1", "--configfile", str(tiny), "--", *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = {m: yaml.safe_load((workflow_copy / t).read_text()) for m, t in zip(variants, targets)}
    assert {m: c["method"]["name"] for m, c in resolved.items()} == dict(zip(variants, variants))
    assert resolved["hiper-paper"]["method"]["lam_boundary"] == 0.0  # cpu-tiny's 1.0 replaced
    assert resolved["hgigpo"]["method"]["lam_boundary"] == 1.0
    for m in ("hiper-keep", "ppo-pe-keep"):
        assert (
            resolved[m]["shaping"]["keep_penalty"],
            resolved[m]["shaping"]["keep_consistency_penalty"],
        ) == (
            0.3,
            0.3,
        )
    assert (
        resolved["hiper-paper"]["shaping"]["keep_penalty"] == 0.05
    )  # train.overrides where no variant sets it
