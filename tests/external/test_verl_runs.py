"""Merging imported runs (coordinates, variants), netCDF round trips, and `hiper-repro import-verl`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from hiper_repro.cli import main as cli_main
from hiper_repro.external.runs import load_runs, merge_verl_runs, run_name, save_runs, variants
from hiper_repro.external.verl import read_verl_log

from .conftest import FLAT, SEED5, TWO_HEADS


@pytest.fixture(scope="module")
def merged() -> xr.Dataset:
    return merge_verl_runs([read_verl_log(p) for p in (FLAT, SEED5, TWO_HEADS)])


class TestVariants:
    def test_differing_overrides_of_one_method(self):
        methods = ["hiper", "hiper", "hiper", "ppo"]
        overrides = [
            {"algorithm.hgae.keep_penalty": "-0.3", "env.seed": "5", "trainer.n_gpus_per_node": "4"},
            {"algorithm.hgae.keep_penalty": "-0.3", "env.seed": "6", "trainer.n_gpus_per_node": "8"},
            {"algorithm.hgae.keep_penalty": "-0.15", "env.seed": "2", "critic.use_two_heads_critic": "True"},
            {"env.seed": "0", "algorithm.adv_estimator": "gae"},
        ]
        two_heads = "keep_penalty=-0.15, use_two_heads_critic=True"
        assert variants(methods, overrides) == [
            "keep_penalty=-0.3",
            "keep_penalty=-0.3",
            two_heads,
            "default",
        ]

    def test_keys_sharing_a_last_component_stay_whole(self):
        out = variants(["m", "m"], [{"actor.lr": "1", "critic.lr": "2"}, {"actor.lr": "3", "critic.lr": "2"}])
        assert out == ["lr=1", "lr=3"]
        out = variants(["m", "m"], [{"actor.lr": "1", "critic.lr": "2"}, {"actor.lr": "3", "critic.lr": "4"}])
        assert out == ["actor.lr=1, critic.lr=2", "actor.lr=3, critic.lr=4"]


class TestMerge:
    def test_runs_and_their_coordinates(self, merged):
        assert merged["run"].values.tolist() == [
            "flat_ppo_trimmed", "hiper_seed5_trimmed", "hiper_two_heads_trimmed"
        ]  # fmt: skip
        assert (
            merged["method_name"].values.tolist() == ["ppo", "hiper", "hiper"]
            and "method" not in merged.coords
        )
        assert merged["seed"].values.tolist() == [0, 5, 2]
        assert merged["env"].values.tolist() == ["alfworld"] * 3
        assert merged["val_episodes"].values.tolist() == [128] * 3
        assert merged["variant"].values[0] == "default"
        assert "use_two_heads_critic=True" in merged["variant"].values[2]
        assert "keep_penalty=-0.3" in merged["variant"].values[1]
        assert merged.attrs["n_runs"] == 3 and "run_alfworld" not in merged.attrs.get("source", "")

    def test_steps_are_outer_joined_and_metrics_filled(self, merged):
        assert merged["step"].values.tolist() == [*range(11), 150]
        flat = merged["val/success_rate"].sel(run="flat_ppo_trimmed")
        assert np.isnan(float(flat.sel(step=150))) and float(flat.sel(step=5)) == 0.109
        assert merged["episode/switch_count/mean"].sel(run="flat_ppo_trimmed").isnull().all()

    def test_two_logs_with_one_name(self):
        ds = read_verl_log(FLAT)
        with pytest.raises(ValueError, match="share the run name 'flat_ppo_trimmed'"):
            merge_verl_runs([ds, ds])

    def test_netcdf_round_trip_keeps_the_log_names(self, merged, tmp_path):
        path = save_runs(merged, tmp_path / "m.nc")
        back = load_runs(path)
        xr.testing.assert_identical(back, merged)
        assert "val/success_rate" in back and "timing_s/gen" in back
        with pytest.raises(FileNotFoundError, match="hiper-repro import-verl"):
            load_runs(tmp_path / "none.nc")

    def test_a_file_imported_with_the_coordinate_method_reads_with_method_name(self, merged, tmp_path):
        path = save_runs(merged.rename({"method_name": "method"}), tmp_path / "old.nc")
        back = load_runs(path, merged=True)
        xr.testing.assert_identical(back, merged)


@pytest.mark.parametrize(
    ("source", "name"),
    [("run_alfworld.log.gz", "run_alfworld"), ("a.txt", "a"), ("b.log", "b"), ("c", "c")],
)
def test_run_name(source, name):
    assert run_name(source) == name


class TestImportCommand:
    def test_writes_one_file_per_log_and_the_merged_dataset(self, tmp_path, capsys):
        out = tmp_path / "runs"
        assert cli_main(["import-verl", str(FLAT), str(SEED5), "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == [
            "flat_ppo_trimmed.nc",
            "hiper_seed5_trimmed.nc",
            "merged.nc",
        ]
        merged = load_runs(out / "merged.nc")
        assert merged.sizes["run"] == 2 and merged["method_name"].values.tolist() == ["ppo", "hiper"]
        one = load_runs(out / "hiper_seed5_trimmed.nc")
        assert one.attrs["seed"] == 5 and float(one["val/success_rate"].sel(step=5)) == float(
            merged["val/success_rate"].sel(run="hiper_seed5_trimmed", step=5)
        )
        printed = capsys.readouterr().out
        assert "flat_ppo_trimmed.log: method=ppo (gae) env=alfworld seed=0 steps 0-8" in printed

    def test_metadata_options_for_a_headless_log(self, tmp_path, flat_text):
        log = tmp_path / "headless.log"
        log.write_text("\n".join(ln for ln in flat_text.splitlines() if "main_ppo" not in ln) + "\n")
        out = tmp_path / "runs"
        args = [
            "import-verl",
            str(log),
            "--out",
            str(out),
            "--method",
            "ppo",
            "--seed",
            "4",
            "--env",
            "alfworld",
        ]
        assert cli_main([*args, "--val-episodes", "128"]) == 0
        ds = load_runs(out / "headless.nc")
        assert (ds.attrs["seed"], ds.attrs["val_episodes"], json.loads(ds.attrs["overrides"])) == (4, 128, {})

    def test_one_bad_log_stops_everything_with_one_line_each(self, tmp_path, capsys):
        bad, empty = tmp_path / "bad.log", tmp_path / "empty.log"
        bad.write_text("+ echo hi\n(TaskRunner pid=1) step:1 - x:1\n")
        empty.write_bytes(b"")
        out = tmp_path / "runs"
        assert cli_main(["import-verl", str(FLAT), str(bad), str(empty), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 2
        assert err[0].startswith("hiper-repro import-verl: bad.log: cannot tell method, seed, env")
        assert err[1].startswith("hiper-repro import-verl: empty.log: no training-step record")
        assert not out.exists()


def test_import_command_loads_neither_torch_nor_matplotlib(tmp_path):
    """`hiper-repro import-verl` stays a fast command: reading logs needs numpy and xarray only."""
    code = (
        "import sys\nfrom hiper_repro.cli import main\n"
        f"main(['import-verl', {str(FLAT)!r}, '--out', {str(tmp_path)!r}])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout
