"""The smoke preset end to end: every rule runs, outputs parse, reruns do nothing or exactly what changed,
and a training job killed mid-run resumes from its checkpoint."""

from __future__ import annotations

import json
import shutil

import pytest
import xarray as xr
from snakemake_runner import copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.slow
SMOKE = ("--config", "preset=smoke")
RESULTS = "results/smoke"  # each preset writes under results/{preset}
RUN = f"{RESULTS}/runs/household/h1/hiper/seed0"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A workflow copy after `snakemake --cores 2` on the smoke preset."""
    wf = copy_workflow(tmp_path_factory.mktemp("smoke"))
    result = snakemake(wf, "--cores", "2", *SMOKE, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return wf


def test_merged_traces_hold_every_run(smoke_run):
    tree = xr.open_datatree(smoke_run / RESULTS / "merged/traces.nc", engine="h5netcdf")
    episodes = tree["episodes"].dataset
    assert set(episodes["method_name"].values) == {"hiper", "ppo"}
    assert sorted(episodes["horizon"].values.tolist()) == [1, 2]
    assert sorted(episodes["seed"].values.tolist()) == [0, 1]
    assert episodes["success"].notnull().any()


def test_statistics_and_numbers(smoke_run):
    stats = smoke_run / RESULTS / "stats"
    numbers = json.loads((stats / "numbers.json").read_text())
    assert numbers, "numbers.json is empty"
    assert any(stats.glob("*.csv"))


def test_figures_tables_and_paper(smoke_run):
    figures = smoke_run / RESULTS / "paper/figures"
    assert any(figures.glob("*.png")) and any(figures.glob("*.pdf"))
    assert (smoke_run / RESULTS / "paper/tables/main_results.csv").is_file()
    html = (smoke_run / RESULTS / "paper/paper.html").read_text()
    assert "<html" in html.lower() and "{{" not in html
    # the paper names the model and its size, read from the warm start, never the folder it came from
    assert "tiny-s (llama, 2 layers, hidden 128" in html and "results/smoke/models" not in html
    numbers = json.loads((smoke_run / RESULTS / "stats/numbers.json").read_text())
    assert numbers["study.setting.shaping.invalid_penalty"] == "0.1"  # what ran, from the runs' configs
    assert numbers["text.lab"].startswith("In the lab")  # the stats step read the lab's dataset


def test_authors_runs_section(smoke_run):
    """The vendored logs of the HiPER authors' runs are imported, re-analysed and written into the paper."""
    merged = smoke_run / RESULTS / "authors/runs/merged.nc"
    assert merged.is_file()
    numbers = json.loads((smoke_run / RESULTS / "authors/analysis/numbers.json").read_text())
    assert numbers["authors.meta.n_runs"] == 6 and numbers["authors.meta.reps"] == 200
    html = (smoke_run / RESULTS / "paper/paper.html").read_text()
    assert "<h2>The authors' runs, re-analysed</h2>" in html


def test_every_job_has_a_log_and_heavy_jobs_a_benchmark(smoke_run):
    assert (smoke_run / RESULTS / "logs/runs/household/h1/hiper/seed0/train.log").is_file()
    assert (smoke_run / RESULTS / "benchmarks/runs/household/h1/hiper/seed0/train.tsv").is_file()
    assert (smoke_run / RESULTS / "logs/paper/paper.log").is_file()
    assert (smoke_run / RESULTS / "logs/authors/analyse_verl.log").is_file()
    assert (smoke_run / RESULTS / "benchmarks/authors/analyse_verl.tsv").is_file()


def test_another_preset_leaves_this_ones_results_untouched(smoke_run):
    """Switching presets plans and writes only under the other preset's folder: the smoke study's files
    are neither redone nor overwritten (one cheap job of the quick preset runs for real)."""
    before = {p: p.stat().st_mtime_ns for p in (smoke_run / RESULTS).rglob("*") if p.is_file()}
    plan = snakemake(smoke_run, "-n", "--quiet", "rules", "--config", "preset=quick")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr)["tasks"] == 4  # nothing of the smoke study is reused
    quick_tasks = "results/quick/tasks/household/h1/eval.jsonl"
    done = snakemake(smoke_run, "--cores", "1", "--config", "preset=quick", "--", quick_tasks)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (smoke_run / quick_tasks).is_file()
    after = {p: p.stat().st_mtime_ns for p in (smoke_run / RESULTS).rglob("*") if p.is_file()}
    assert after == before
    again = snakemake(smoke_run, "-n", *SMOKE)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_rerun_after_completion_does_nothing(smoke_run):
    result = snakemake(smoke_run, "-n", *SMOKE)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changed_value_reruns_exactly_its_dependants(smoke_run):
    stats = snakemake(smoke_run, "-n", "--quiet", "rules", *SMOKE, "stats={reps: 100}")
    assert job_counts(stats.stdout + stats.stderr) == {"stats": 1, "figures": 1, "paper": 1, "all": 1}
    authors = snakemake(smoke_run, "-n", "--quiet", "rules", *SMOKE, "authors={reps: 100}")
    assert job_counts(authors.stdout + authors.stderr) == {"analyse_verl": 1, "paper": 1, "all": 1}
    evaluate = snakemake(smoke_run, "-n", "--quiet", "rules", *SMOKE, "evaluate={temperature: 0.0}")
    assert job_counts(evaluate.stdout + evaluate.stderr) == {"evaluate": 4, "all": 1}
    train = snakemake(smoke_run, "-n", "--quiet", "rules", *SMOKE, "train={overrides: {ppo: {lr: 0.0002}}}")
    downstream = {"aggregate": 1, "stats": 1, "figures": 1, "paper": 1, "all": 1}
    assert job_counts(train.stdout + train.stderr) == {"train_config": 8, "train": 8, **downstream}


def test_report_builds(smoke_run):
    result = snakemake(smoke_run, "--report", "report.html", *SMOKE)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (smoke_run / "report.html").stat().st_size > 10_000
    assert "WARNING" not in result.stdout + result.stderr  # docutils: e.g. a category named like a panel


def test_killed_training_resumes_from_its_checkpoint(smoke_run):
    """A run that dies after its first checkpoint continues from it on the next `snakemake` (runs last:
    it retrains one run of the module's workflow, asked for by its `done` marker because everything
    downstream is already up to date)."""
    run = smoke_run / RUN
    shutil.rmtree(run)
    # The trainer's fault injection: die in iteration 1, after iteration 0's checkpoint.
    failed = snakemake(
        smoke_run,
        "--cores",
        "1",
        "--retries",
        "0",
        *SMOKE,
        "--",
        f"{RUN}/done",
        env={"HIPER_REPRO_FAIL_AT": "1:update"},
    )
    assert failed.returncode != 0
    assert not (run / "done").exists()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["iter_000000"]
    resumed = snakemake(smoke_run, "--cores", "1", *SMOKE, "--", f"{RUN}/done")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    starts = [s["iteration"] for s in json.loads((run / "run.json").read_text())["starts"]]
    assert starts == [0, 1]
    assert (run / "done").is_file()
