"""Random bytes and random YAML through every `hiper-repro` command, in process: each call ends with exit
code 0 or 2 and one line on stderr, never a traceback (exit code 1 would be a bug the input exposed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hiper_repro.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
)
random_yaml = yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode())
config_values = st.one_of(scalars, st.integers(-3, 3), st.floats(-2, 2), yaml_values)  # mostly plausible
# Option values: numbers in and out of range, words, nothing; never a size that makes a command run long.
words = st.sampled_from(["0", "-1", "1", "2", "1e3", "x", "", "nan", "household", "quick-ish", "--out", "١"])


def train_keys() -> list[str]:
    from hiper_repro.train.config import TrainConfig

    cfg = TrainConfig()
    return [
        f"{s.name}.{f.name}"
        for s in dataclasses.fields(cfg)
        for f in dataclasses.fields(getattr(cfg, s.name))
        if f"{s.name}.{f.name}" != "model.path"
    ]


def _nest(flat: dict) -> dict:
    out: dict = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


@st.composite
def train_yaml(draw, missing_model: str) -> bytes:
    """A config that looks like a real one: known keys (and a typo now and then) with random values."""
    keys = draw(
        st.lists(st.sampled_from([*train_keys(), "ppo.lrr", "preset", "recipe"]), max_size=4, unique=True)
    )
    flat = {k: draw(config_values) for k in keys} | {"model.path": missing_model}
    return yaml.safe_dump(_nest(flat), allow_unicode=True).encode()


@st.composite
def warmstart_yaml(draw, missing_model: str) -> bytes:
    from hiper_repro.agent.warmstart import WarmStartConfig

    names = [f.name for f in dataclasses.fields(WarmStartConfig) if f.name not in ("base_dir", "model")]
    keys = draw(st.lists(st.sampled_from([*names, "stepz"]), max_size=4, unique=True))
    data = {k: draw(config_values) for k in keys} | {"base_dir": missing_model, "n_demos": 4, "steps": 1}
    return yaml.safe_dump(data, allow_unicode=True).encode()


def payloads(structured=None):
    options = [st.binary(max_size=400), random_yaml]
    return st.one_of(*options, structured) if structured is not None else st.one_of(*options)


def _run(argv: list[str], capsys) -> None:
    import torch

    capsys.readouterr()
    threads = torch.get_num_threads()
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse: usage errors exit 2, --help 0
        rc = exit_.code
    finally:
        torch.set_num_threads(threads)  # a warm-start config may set its own count in this process
    err = capsys.readouterr().err
    assert rc in (0, 2), f"{argv}: exit code {rc}\n{err[-2000:]}"
    assert "Traceback" not in err, f"{argv}:\n{err[-2000:]}"


@pytest.fixture
def place(tmp_path):
    """Where a payload is written, and folders the commands read or write."""
    for name in ("out", "stats", "figures", "tables", "empty_model"):
        (tmp_path / name).mkdir()
    return tmp_path


def _is_empty_yaml(data: bytes) -> bool:
    try:
        return yaml.safe_load(data) in (None, {})
    except (yaml.YAMLError, ValueError):
        return False


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_every_command_is_fuzzed():
    assert set(COMMANDS) == set(CASES)


CASES = {
    "tasks": lambda p, data, w: ["tasks", "--env", w[0], "--horizon", w[1], "--split", "eval", "--n", w[2],
                                 "--out", str(p / "out" / "t.jsonl")],
    "model": lambda p, data, w: ["model", "--name", "tiny-xs", "--tasks", _write(p / "t.jsonl", data),
                                 "--out", str(p / "out" / "m")],
    "warmstart": lambda p, data, w: ["warmstart", "--config", _write(p / "w.yaml", data), "--out", str(p / "out" / "w")],
    "evaluate": lambda p, data, w: ["evaluate", "--model", str(p / "empty_model"), "--tasks", _write(p / "t.jsonl", data),
                                    "--format", "flat", "--out", str(p / "out" / "e.json"), "--max-new-tokens", w[0]],
    "train": lambda p, data, w: ["train", "--config", _write(p / "c.yaml", data), "--out", str(p / "out" / "run"),
                                 "--set", f"ppo.clip={w[0]}"],
    "theory": lambda p, data, w: ["theory", "--out", str(p / "out"), "--grid", w[0], "--seed", w[1]],
    "aggregate": lambda p, data, w: ["aggregate", "--runs", _write(p / "traces.nc", data), "--out", str(p / "out" / "m.nc")],
    "validate": lambda p, data, w: ["validate", _write(p / "traces.nc", data)],
    "stats": lambda p, data, w: ["stats", "--merged", _write(p / "merged.nc", data), "--out", str(p / "stats")],
    "figures": lambda p, data, w: ["figures", "--merged", _write(p / "merged.nc", data), "--stats", str(p / "stats"),
                                   "--out", str(p / "figures")],
    "paper": lambda p, data, w: ["paper", "--manuscript", str(REPO / "paper" / "manuscript.md"),
                                 "--stats", str(Path(_write(p / "stats" / "numbers.json", data)).parent),
                                 "--figures", str(p / "figures"), "--tables", str(p / "tables"), "--out", str(p / "out")],
    "bench": lambda p, data, w: ["bench", w[0], "--batch", w[1]],
    "import-verl": lambda p, data, w: ["import-verl", _write(p / "run.log", data), "--out", str(p / "out"),
                                       "--seed", w[0]],
    "analyse-verl": lambda p, data, w: ["analyse-verl", "--merged", _write(p / "merged.nc", data),
                                        "--out", str(p / "out"), "--reps", w[0]],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(CASES))
def test_random_input_gives_a_clear_error(command, place, capsys):
    missing = str(place / "no_model")
    structured = {"train": train_yaml(missing), "warmstart": warmstart_yaml(missing)}.get(command)

    @FUZZ
    @given(data=payloads(structured), w=st.lists(words, min_size=3, max_size=3))
    def run(data, w):
        if command == "warmstart":  # an empty file is the default config: a whole warm start, not an error
            assume(not _is_empty_yaml(data))
        _run(CASES[command](place, data, w), capsys)

    run()


def test_figures_with_random_stats_tables(place, capsys):
    """A real merged file, and stats tables of random bytes or random CSV text."""
    from hiper_repro.traces.store import write_tree
    from hiper_repro.traces.synthetic import synthetic_merged

    write_tree(
        synthetic_merged(methods=("hiper", "ppo"), horizons=(1,), seeds=(0,), iterations=2), place / "m.nc"
    )
    from hiper_repro.figures.cli import STATS_TABLES

    @settings(FUZZ, max_examples=10)  # each example may draw a few figures
    @given(tables=st.lists(payloads(), min_size=len(STATS_TABLES), max_size=len(STATS_TABLES)))
    def run(tables):
        for name, data in zip(STATS_TABLES, tables):
            (place / "stats" / f"{name}.csv").write_bytes(data)
        _run(["figures", "--merged", str(place / "m.nc"), "--stats", str(place / "stats"),
              "--out", str(place / "figures")], capsys)  # fmt: skip

    run()


def test_one_line_and_exit_code_2_for_input_errors(place, capsys):
    """What a user sees: the command, then the file, key or value; --debug shows the traceback instead."""
    config = place / "c.yaml"
    config.write_text("ppo: {kl_coef: .nan}\nmodel: {path: m}\n")
    assert main(["train", "--config", str(config), "--out", str(place / "out")]) == 2
    assert capsys.readouterr().err == "hiper-repro train: config ppo.kl_coef=nan: expected a finite number\n"
    (place / "bad.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert main(["validate", str(place / "bad.nc")]) == 2
    assert "bad.nc: 1 problems" in capsys.readouterr().err
    assert main(["stats", "--merged", str(place / "bad.nc"), "--out", str(place / "stats")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"hiper-repro stats: {place / 'bad.nc'}: not a readable netCDF4 trace file")
        and err.count("\n") == 1
    )
    with pytest.raises(ValueError, match="not a readable netCDF4 trace file"):
        main(["--debug", "stats", "--merged", str(place / "bad.nc"), "--out", str(place / "stats")])
