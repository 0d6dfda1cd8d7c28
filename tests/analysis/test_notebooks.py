"""The analysis notebooks run headless (nbclient) against a results folder, and are committed stripped.

The results folder is the session fixture ``smoke_results`` when ``tests/conftest.py`` provides one (the
pipeline's smoke preset), else a synthetic one built here: ``synthetic_runs``, then the real
``hiper-repro aggregate`` and ``hiper-repro stats`` entry points, plus a tiny theory grid.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from hiper_repro.stats import cli as stats_cli
from hiper_repro.theory.lab import Grid, run_grid, write_dataset
from hiper_repro.traces import cli as traces_cli
from hiper_repro.traces.synthetic import synthetic_runs

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
NOTEBOOKS = ("01_traces_tour.ipynb", "02_credit_assignment.ipynb", "03_paper_figures.ipynb")
AUTHORS_NOTEBOOK = "04_authors_runs.ipynb"  # reads the vendored logs in data/authors-logs/, not results/
CELL_TIMEOUT_S = 180


def _build_synthetic_results(root: Path) -> Path:
    """A results folder shaped like the pipeline's: merged/traces.nc, stats/, theory/theory.nc."""
    synthetic_runs(root / "runs", methods=("hiper", "ppo"), horizons=(1, 3), seeds=(0, 1, 2),
                   iterations=6, episodes=8, eval_episodes=8)  # fmt: skip
    merged = root / "merged" / "traces.nc"
    assert traces_cli.main(["--runs", str(root / "runs"), "--out", str(merged)]) == 0
    stats_args = ["--reps", "100", "--variance-reps", "50", "--threshold", "0.5"]
    assert stats_cli.main(["--merged", str(merged), "--out", str(root / "stats"), *stats_args]) == 0
    grid = Grid((1, 2), (0.95, 1.0), (1.0,), (0.0,), replicates=2, n_episodes=128)
    write_dataset(run_grid(grid, seed=0), root / "theory" / "theory.nc")
    return root


@pytest.fixture(scope="session")
def analysis_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lead's ``smoke_results`` folder if that fixture exists, else a synthetic results folder."""
    try:
        return Path(request.getfixturevalue("smoke_results"))
    except pytest.FixtureLookupError:
        return _build_synthetic_results(tmp_path_factory.mktemp("results"))


def _kernel_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str], allow_errors: bool = False) -> None:
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env)


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _figures(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for out in _outputs(nb))


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in _outputs(nb) if out.get("output_type") == "stream")


def test_analysis_folder_holds_the_four_notebooks():
    assert sorted(p.name for p in ANALYSIS.glob("*.ipynb")) == sorted((*NOTEBOOKS, AUTHORS_NOTEBOOK))
    assert (ANALYSIS / "README.md").is_file()


@pytest.mark.parametrize("name", (*NOTEBOOKS, AUTHORS_NOTEBOOK))
def test_committed_notebook_is_stripped(name: str):
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cell"
    assert [c.outputs for c in code] == [[] for _ in code], (
        f"{name} has outputs: strip them before committing"
    )
    assert all(c.execution_count is None for c in code), f"{name} has execution counts"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name: str, analysis_results: Path):
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    try:
        _execute(nb, ANALYSIS, _kernel_env(HIPER_REPRO_RESULTS=str(analysis_results)))
    except CellExecutionError as err:
        pytest.fail(f"{name} failed against {analysis_results}:\n{err}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a code cell did not run"
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert _figures(nb) >= 1, f"{name} drew no figure"
    assert f"results: {analysis_results.resolve()}" in _stdout(nb)
    if name.startswith("03"):
        # every figure of figure_jobs visited, and the pipeline's numbers reproduced from the traces
        assert "figures visited" in _stdout(nb)
        assert "reproduced" in _stdout(nb)


@pytest.mark.slow
def test_authors_notebook_executes():
    """The walk through the authors' runs executes from the analysis folder, checks a parsed value against
    the raw log, draws the figures and decides the claims."""
    nb = nbformat.read(ANALYSIS / AUTHORS_NOTEBOOK, as_version=4)
    try:
        _execute(nb, ANALYSIS, _kernel_env(HIPER_REPRO_RESULTS=None))
    except CellExecutionError as err:
        pytest.fail(f"{AUTHORS_NOTEBOOK} failed:\n{err}")
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert _figures(nb) >= 5
    out = _stdout(nb)
    assert "step 150, val/success_rate: raw 0.711, parsed 0.711" in out
    assert "claims decided: {'higher_final_success':" in out


def _setup_source(name: str) -> str:
    return next(c for c in nbformat.read(ANALYSIS / name, as_version=4).cells if c.cell_type == "code").source


def test_notebooks_find_results_the_same_way():
    """Every notebook's first code cell looks results up with the package's `find_results`, so the
    behaviour test below, run on one notebook, covers all three."""
    lacking = [n for n in NOTEBOOKS if "from hiper_repro.io import find_results" not in _setup_source(n)]
    assert not lacking, f"notebooks not using hiper_repro.io.find_results: {lacking}"
    assert all("def find_results" not in _setup_source(n) for n in NOTEBOOKS), "a notebook keeps its own copy"


@pytest.mark.slow
def test_setup_cell_names_the_missing_results(tmp_path: Path):
    """Without merged traces the first code cell stops with an error that says how to make them, both
    for ``HIPER_REPRO_RESULTS`` and for the default ``results/`` beside ``pyproject.toml``."""
    setup = _setup_source(NOTEBOOKS[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    repo = tmp_path / "repo"
    (repo / "analysis" / "deeper").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    switch_to_default = (
        f"import os\nos.environ.pop('HIPER_REPRO_RESULTS')\nos.chdir({str(repo / 'analysis' / 'deeper')!r})"
    )
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(src) for src in (setup, switch_to_default, setup)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    _execute(
        nb, tmp_path, _kernel_env(HIPER_REPRO_RESULTS=str(empty), HIPER_REPRO_PRESET=None), allow_errors=True
    )
    errors = [[o for o in c.outputs if o.output_type == "error"] for c in nb.cells]
    assert not errors[1], errors[1]
    for cell_errors, folder in ((errors[0], empty), (errors[2], repo / "results" / "quick")):
        assert len(cell_errors) == 1
        message = cell_errors[0].evalue
        assert cell_errors[0].ename == "FileNotFoundError"
        assert str(folder / "merged" / "traces.nc") in message
        assert "snakemake --cores 2" in message
