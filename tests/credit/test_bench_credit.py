"""The credit benchmark: its loop baselines compute what the vectorised estimators compute, and the
command prints both timings and the ratio."""

from __future__ import annotations

import re

import numpy as np
import torch

from hiper_repro import bench
from hiper_repro.credit.bench import main, run


def test_baselines_agree_with_vectorised():
    for row in run(batch=16, n_turns=9, repeat=1, device="cpu", dtype=torch.float64, seed=3):
        assert row["max_abs_diff"] < 1e-12, row
        assert row["vectorised_s"] > 0 and row["loop_s"] > 0 and row["loop_numpy_s"] > 0


def test_command_prints_timings_and_ratio(capsys):
    assert bench.main(["credit", "--batch", "8", "--turns", "5", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(
        r"^(gae|hae)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+\(([\d.]+)x\)\s+([\d.]+)\s+([\d.]+)x\s+([\d.e+-]+)$",
        out,
        re.M,
    )
    assert [r[0] for r in rows] == ["gae", "hae"]
    assert all(float(r[1]) > 0 and float(r[3]) >= 0 and float(r[4]) >= 0 and float(r[7]) < 1e-4 for r in rows)
    assert np.isfinite([float(r[k]) for r in rows for k in (2, 5, 6)]).all()


def test_dispatcher_rejects_unknown_target(capsys):
    assert bench.main(["nonsense"]) == 2
    assert "credit" in capsys.readouterr().err


def test_credit_main_validates_arguments(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--batch", "0"])


def test_dispatcher_reports_a_missing_target_module(capsys, monkeypatch):
    monkeypatch.setitem(bench.TARGETS, "ghost", ("hiper_repro.no_such_bench_module", "test only"))
    assert bench.main(["ghost"]) == 2
    assert "hiper_repro.no_such_bench_module" in capsys.readouterr().err
