"""Damaged and odd veRL logs, as a user's files and disks produce them: every case ends in a one-line
error naming the file or in values equal to the intact log's, never a silently wrong number."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from hiper_repro.cli import main as cli_main
from hiper_repro.external.analysis import Options, analyse, steps_note
from hiper_repro.external.runs import load_runs, merge_verl_runs, save_runs
from hiper_repro.external.verl import VerlLogError, read_verl_log

from .conftest import FLAT, SEED5, synthetic_log, text_of
from .test_verl_parser import verl_text


def values(ds) -> dict[tuple[str, int], float]:
    """Every finite value of a per-log dataset by (metric, step)."""
    out = {}
    for name in ds.data_vars:
        for step, v in zip(ds["step"].values, ds[name].values):
            if np.isfinite(v):
                out[str(name), int(step)] = float(v)
    return out


class TestGzipDamage:
    """A damaged gzip member is never read: zlib notices damage only after it produced text from it."""

    @pytest.fixture
    def packed(self) -> tuple[bytes, dict]:
        return SEED5.read_bytes(), values(read_verl_log(SEED5))

    @pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
    def test_junk_inside_the_stream_is_an_error(self, packed, where, write_log):
        raw, _ = packed
        at = int(where * len(raw))
        path = write_log("junk.log.gz", raw[:at] + bytes(range(200, 216)) + raw[at:])
        with pytest.raises(
            VerlLogError, match=r"junk\.log\.gz: the gzip data is damaged .* restore the file"
        ):
            read_verl_log(path)

    def test_random_damage_never_gives_a_wrong_value(self, packed, write_log):
        """Flips, insertions, deletions and cuts: an error naming the file, or only the intact values."""
        raw, intact = packed
        rng = np.random.default_rng(7)
        outcomes = set()
        for i in range(60):
            data = bytearray(raw)
            at = int(rng.integers(10, len(data) - 8))
            kind = i % 4
            if kind == 0:
                data[at] ^= 1 << int(rng.integers(0, 8))
            elif kind == 1:
                data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8))
            elif kind == 2:
                del data[at : at + int(rng.integers(1, 32))]
            else:
                data = data[:at]
            path = write_log(f"d{i}.log.gz", bytes(data))
            try:
                ds = read_verl_log(path)
            except VerlLogError as err:
                assert path.name in str(err) and "\n" not in str(err)
                outcomes.add("error")
                continue
            got = values(ds)
            assert all(intact[k] == v for k, v in got.items()), (
                f"case {i}: a value differs from the intact log"
            )
            assert set(got) <= set(intact)
            outcomes.add("cut" if ds.attrs["truncated"] else "same")
        assert {"error", "cut"} <= outcomes

    def test_damage_in_a_later_member_keeps_the_members_before(self, write_log):
        text = text_of(FLAT)
        half = text.index("(TaskRunner", text.index("step:4 - "))
        first, second = gzip.compress(text[:half].encode()), bytearray(gzip.compress(text[half:].encode()))
        intact = read_verl_log(write_log("two.log.gz", first + bytes(second)))
        assert intact.attrs["truncated"] == 0 and intact.sizes["step"] == 9
        second[len(second) // 2] ^= 0x10
        ds = read_verl_log(write_log("bad.log.gz", first + bytes(second)))
        assert ds.attrs["truncated"] == 1 and ds["step"].values.tolist() == [0, 1, 2, 3, 4]
        assert all(values(intact)[k] == v for k, v in values(ds).items())

    def test_nul_padding_after_a_cut_stream(self, write_log):
        packed = gzip.compress(text_of(FLAT).encode(), mtime=0)
        ds = read_verl_log(write_log("pad.log.gz", packed[: len(packed) // 2] + b"\x00" * 4096))
        assert ds.attrs["truncated"] == 1 and 0 < ds.sizes["step"] < 9
        assert all(values(read_verl_log(FLAT))[k] == v for k, v in values(ds).items())


HEADER = "algorithm.adv_estimator=gae env.env_name=alfworld/X env.seed=0 data.val_batch_size=128"


class TestValues:
    @pytest.mark.parametrize(
        ("value", "why"),
        [("1.5", "a rate outside [0, 1] (1.5)"), ("-0.2", "a rate outside [0, 1] (-0.2)"),
         ("inf", "not finite (inf)"), ("-Infinity", "not finite (-Infinity)"), ("nan", "not finite (nan)"),
         ("1e999", "not finite (1e999)"), ("0_9", "not a number ('0_9')"), ("0x1", "not a number ('0x1')"),
         ("0.5.1", "not a number ('0.5.1')"), ("", "not a number ('')")],
    )  # fmt: skip
    def test_impossible_rates_are_dropped_and_named(self, value, why, write_log):
        text = verl_text(
            HEADER,
            "(TaskRunner pid=1) step:0 - val/success_rate:0.25 - timing_s/gen:231.5",
            f"(TaskRunner pid=1) step:5 - val/success_rate:{value} - val/pick_success_rate:0.5",
        )
        ds = read_verl_log(write_log("rates.log", text))
        assert ds["val/success_rate"].values[0] == 0.25 and np.isnan(ds["val/success_rate"].values[1])
        assert float(ds["val/pick_success_rate"].sel(step=5)) == 0.5
        assert float(ds["timing_s/gen"].sel(step=0)) == 231.5  # not a rate: any finite value
        assert json.loads(ds.attrs["dropped"]) == [[5, "val/success_rate", why]]

    def test_best_is_never_an_impossible_rate(self, tmp_path):
        """The QA's case: a rate of 1.5 in a log made `best.estimate` 1.5."""
        log = synthetic_log(tmp_path / "h.log", "hgae", 5, {0: 0.1, 25: 0.5})
        log.write_text(log.read_text().replace("step:30 - ", "step:30 - val/success_rate:1.5 - ", 1))
        ds = merge_verl_runs([read_verl_log(log)])
        tables, _ = analyse(ds, Options(reps=20))
        assert tables["runs"]["best"].max() <= 1.0

    def test_import_prints_every_dropped_value(self, tmp_path, capsys):
        text = verl_text(
            HEADER,
            "(TaskRunner pid=1) step:0 - val/success_rate:1.5 - a:1 - :4 - b:1_0",
            "(TaskRunner pid=1) step:1 - a:2 - b:nan",
        )
        (tmp_path / "x.log").write_text(text)
        assert cli_main(["import-verl", str(tmp_path / "x.log"), "--out", str(tmp_path / "o")]) == 0
        out = capsys.readouterr().out
        assert "4 values dropped" in out
        for part in ("'val/success_rate' at step 0 (a rate outside [0, 1])", "':4' at step 0",
                     "'b' at step 0 (not a number ('1_0'))", "'b' at step 1 (not finite (nan))"):  # fmt: skip
            assert part in out


class TestNames:
    def test_names_with_spaces_and_parentheses_survive_the_round_trip(self, write_log, tmp_path):
        text = verl_text(
            "algorithm.adv_estimator=gigpo env.env_name=WebshopOptions env.seed=0",
            "(TaskRunner pid=7) step:0 - val/webshop_task_score (not success_rate):1.75 - "
            "val/success_rate:0.156 - weird name:3 - ratio: a/b:0.5",
        )
        ds = read_verl_log(write_log("webshop.log", text))
        # a score, not a rate (its remark says so): values above 1 are kept
        assert float(ds["val/webshop_task_score (not success_rate)"].sel(step=0)) == 1.75
        assert float(ds["weird name"].sel(step=0)) == 3.0
        assert float(ds["ratio: a/b"].sel(step=0)) == 0.5  # the name ends at the last colon
        assert ds.attrs["n_skipped"] == 0
        back = load_runs(save_runs(merge_verl_runs([ds]), tmp_path / "m.nc"))
        assert float(back["val/webshop_task_score (not success_rate)"].sel(step=0).item()) == 1.75


def test_runs_ending_at_different_steps_are_compared_where_all_are(tmp_path, capsys):
    """The QA's case: flat PPO cut at step 54 was read as "final" against HiPER at step 150."""
    flat = synthetic_log(tmp_path / "flat.log", "gae", 0, {0: 0.1, 40: 0.3, 90: 0.9}, last_step=100)
    hiper = synthetic_log(tmp_path / "h5.log", "hgae", 5, {0: 0.1, 40: 0.5, 90: 0.6}, last_step=100)
    text = flat.read_text()
    flat.write_text(text[: text.index("(TaskRunner pid=1) step:55 - ") + 40])  # cut inside step 55
    runs = merge_verl_runs([read_verl_log(flat), read_verl_log(hiper)])
    tables, numbers = analyse(runs, Options(reps=50))
    assert numbers["authors.meta.last_step"] == 54  # step 55 lost its only (cut) entry
    assert (
        numbers["authors.meta.run_last_step.flat"] == 54 and numbers["authors.meta.run_last_step.h5"] == 100
    )
    assert numbers["authors.arm.baseline.final.estimate"] == 0.3  # its last validation, step 50
    assert numbers["authors.arm.main.final.estimate"] == 0.5  # HiPER at step 50 too, not 0.6 at 100
    note = steps_note(numbers)
    assert "flat at step 54" in note and "uses steps 0-54" in note and "flat are truncated" in note
    out = tmp_path / "imp"
    assert cli_main(["import-verl", str(flat), str(hiper), "--out", str(out)]) == 0
    assert "TRUNCATED" in capsys.readouterr().out
    assert cli_main(["analyse-verl", "--merged", str(out / "merged.nc"), "--out", str(tmp_path / "a"),
                     "--reps", "20"]) == 0  # fmt: skip
    assert "NOTE: runs end at different steps (flat at step 54" in capsys.readouterr().out


class TestWrongFiles:
    """Each command given another command's file says what the file is and which command reads it."""

    @pytest.fixture
    def imported(self, tmp_path):
        log = synthetic_log(tmp_path / "h5.log", "hgae", 5, {0: 0.1, 25: 0.5})
        assert cli_main(["import-verl", str(log), "--out", str(tmp_path / "runs")]) == 0
        return tmp_path / "runs"

    def _analyse(self, path, tmp_path, capsys) -> str:
        assert (
            cli_main(["analyse-verl", "--merged", str(path), "--out", str(tmp_path / "a"), "--reps", "5"])
            == 2
        )
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and "internal error" not in err
        assert not (tmp_path / "a").exists()
        return err

    def test_analyse_verl_given_traces(self, tmp_path, capsys):
        from hiper_repro.traces.store import write_tree
        from hiper_repro.traces.synthetic import synthetic_merged, synthetic_writer

        run, merged = tmp_path / "traces.nc", tmp_path / "merged_traces.nc"
        write_tree(synthetic_writer("hiper", 1, 0, iterations=2, episodes=4).tree(), run)
        write_tree(synthetic_merged(methods=("hiper",), horizons=(1,), seeds=(0,), iterations=2), merged)
        for path in (run, merged):
            assert "is a trace file of `hiper-repro train` or `aggregate`" in self._analyse(
                path, tmp_path, capsys
            )

    def test_analyse_verl_given_one_logs_import_or_not_netcdf(self, imported, tmp_path, capsys):
        err = self._analyse(imported / "h5.nc", tmp_path, capsys)
        assert "one log's import" in err and "give the merged.nc" in err
        (tmp_path / "x.nc").write_text("not netCDF")
        assert "not a netCDF file of `hiper-repro import-verl`" in self._analyse(
            tmp_path / "x.nc", tmp_path, capsys
        )

    def test_stats_aggregate_and_validate_given_the_authors_merged_file(self, imported, tmp_path, capsys):
        merged = imported / "merged.nc"
        assert cli_main(["stats", "--merged", str(merged), "--out", str(tmp_path / "s")]) == 2
        err = capsys.readouterr().err
        assert "holds veRL training logs imported by `hiper-repro import-verl`, not traces" in err
        assert "merge runs first" not in err and f"analyse-verl --merged {merged}" in err
        assert cli_main(["aggregate", "--runs", str(merged), "--out", str(tmp_path / "m.nc")]) == 2
        assert "imported by `hiper-repro import-verl`" in capsys.readouterr().err
        assert cli_main(["validate", str(merged)]) == 2
        assert "1 problems" in capsys.readouterr().err


def test_analyse_verl_replaces_its_folder_whole(tmp_path, monkeypatch):
    """An error while writing leaves the previous analysis as it was; a foreign file is never deleted."""
    from hiper_repro.external import report

    log = synthetic_log(tmp_path / "h5.log", "hgae", 5, {0: 0.1, 25: 0.5})
    runs, out = tmp_path / "runs", tmp_path / "analysis"
    assert cli_main(["import-verl", str(log), "--out", str(runs)]) == 0
    argv = ["analyse-verl", "--merged", str(runs / "merged.nc"), "--out", str(out), "--reps", "5"]
    assert cli_main(argv) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(tables, numbers, folder, opts):
        (folder / "numbers.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write", broken)
    assert cli_main([*argv[:-1], "7"]) == 2
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    (out / "notes.txt").write_text("mine")
    assert cli_main(argv) == 2
    assert (out / "notes.txt").read_text() == "mine"
