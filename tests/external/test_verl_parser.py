"""read_verl_log on trimmed real logs (values checked against the raw text) and on damaged logs."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest

from hiper_repro.external.verl import VerlLogError, env_name, read_verl_log

from .conftest import FLAT, SEED5, TWO_HEADS, VENDORED, record_lines, text_of

# name:value pairs of a record, read with a pattern of their own (not the parser's code)
PAIR = re.compile(r"([A-Za-z_][\w./@+\-]*):(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?= - |\s*$)")
STEP = re.compile(r"\) step:(\d+) - ")


def verl_text(overrides: str, *records: str) -> str:
    """A small log: the veRL command line with ``overrides``, then one line per record."""
    return "\n".join([f"+ python3 -m verl.trainer.main_ppo {overrides}", *records]) + "\n"


def raw_records(text: str) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for line in record_lines(text):
        m = STEP.search(line)
        out[int(m.group(1))] = {k: float(v) for k, v in PAIR.findall(line[m.end() :])}
    return out


class TestTrimmedRealLogs:
    @pytest.mark.parametrize(
        ("fixture", "source"),
        [(FLAT, "run_alfworld.log.gz"), (SEED5, "run_alfworld_seed5_1_5b.log.gz"),
         (TWO_HEADS, "run_alfworld_dev_h100_norm.log.gz")],
        ids=["flat", "seed5", "two_heads"],
    )  # fmt: skip
    def test_fixture_lines_are_lines_of_the_vendored_log(self, fixture, source):
        real = set(gzip.decompress((VENDORED / source).read_bytes()).split(b"\n"))
        data = fixture.read_bytes()
        lines = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).split(b"\n")[:-1]
        assert lines and all(line in real for line in lines)

    def test_flat_run_metadata(self):
        ds = read_verl_log(FLAT)
        a = ds.attrs
        assert (a["method"], a["adv_estimator"], a["env"], a["seed"]) == ("ppo", "gae", "alfworld", 0)
        assert a["model"] == "Qwen/Qwen2.5-1.5B-Instruct" and a["val_episodes"] == 128
        overrides = json.loads(a["overrides"])
        assert overrides["trainer.logger"] == "[console,wandb]"  # shell-quoted on the command line
        assert (
            overrides["env.env_name"] == "alfworld/AlfredTWEnv" and overrides["trainer.total_epochs"] == "150"
        )
        assert a["source"] == "flat_ppo_trimmed.log"
        assert ds["step"].values.tolist() == list(range(9))
        assert (a["n_step_lines"], a["n_skipped"], a["n_repeated_steps"], a["truncated"]) == (9, 0, 0, 0)
        assert a["n_lines"] == text_of(FLAT).count("\n") == 137  # carriage returns do not end lines

    def test_values_equal_the_raw_text(self):
        # raw line of step 5: "... actor/pg_loss:-0.001 ... val/success_rate:0.109 ... timing_s/gen:231.477"
        ds = read_verl_log(FLAT)
        step5 = ds.sel(step=5)
        assert float(step5["val/success_rate"]) == 0.109
        assert float(step5["timing_s/gen"]) == 231.477
        assert float(step5["actor/pg_loss"]) == -0.001

    @pytest.mark.parametrize("fixture", [FLAT, SEED5, TWO_HEADS], ids=["flat", "seed5", "two_heads"])
    def test_every_pair_of_every_record_is_read(self, fixture):
        raw = raw_records(text_of(fixture))
        ds = read_verl_log(fixture)
        assert sorted(raw) == ds["step"].values.tolist()
        for step, pairs in raw.items():
            assert pairs, f"step {step}: no pair found in the raw line"
            for name, value in pairs.items():
                assert float(ds[name].sel(step=step)) == value, (step, name)
        n_pairs = sum(len(p) for p in raw.values())
        assert int(sum(ds[v].notnull().sum() for v in ds.data_vars)) == n_pairs

    def test_validation_metrics_exist_every_fifth_step_only(self):
        val = read_verl_log(FLAT)["val/success_rate"]
        assert val.notnull().values.tolist() == [s % 5 == 0 for s in range(9)]

    def test_hiper_run_and_its_switch_counts(self):
        ds = read_verl_log(SEED5)
        assert (ds.attrs["method"], ds.attrs["adv_estimator"], ds.attrs["seed"]) == ("hiper", "hgae", 5)
        assert (
            "episode/switch_count/mean" in ds and int(ds["episode/switch_count/mean"].notnull().sum()) == 10
        )

    def test_final_record_and_the_metrics_block_after_it(self):
        """The pprint block of final validation metrics after step 150 holds no record: nothing is skipped."""
        ds = read_verl_log(TWO_HEADS)
        assert ds["step"].values.tolist() == [0, 1, 2, 3, 4, 5, 6, 150]
        assert float(ds["val/success_rate"].sel(step=150)) == 0.789
        assert ds.attrs["n_skipped"] == 0

    @pytest.mark.parametrize("log", sorted(p.name for p in VENDORED.glob("*.log.gz")))
    def test_vendored_validation_curve_equals_the_raw_text(self, log):
        text = text_of(VENDORED / log)
        raw = [float(v) for v in re.findall(r" - val/success_rate:([\d.]+)", text)]
        ds = read_verl_log(VENDORED / log)
        assert ds["val/success_rate"].dropna("step").values.tolist() == raw
        assert len(raw) == 31 and ds.sizes["step"] == 151 and ds.attrs["n_skipped"] == 0


class TestDamagedLogs:
    def test_truncated_mid_record_keeps_everything_before_the_cut(self, flat_text, write_log):
        # step 8's raw record: "... episode/success_rate:0.102 ... timing_s/gen:227.171 ... timing_s/step:..."
        start = flat_text.index("step:8 - ")
        cut = flat_text.index("timing_s/gen:227.171", start) + len("timing_s/gen:22")
        ds = read_verl_log(write_log("cut.log", flat_text[:cut]))
        assert ds.attrs["truncated"] == 1 and ds.attrs["n_skipped"] == 1
        assert np.isnan(float(ds["timing_s/gen"].sel(step=8)))  # "22" is a cut number: never read
        assert np.isnan(float(ds["timing_s/step"].sel(step=8)))  # after the cut
        assert float(ds["episode/success_rate"].sel(step=8)) == 0.102  # before it
        assert float(ds["val/success_rate"].sel(step=5)) == 0.109

    def test_truncated_gzip_stream(self, flat_text, write_log):
        packed = gzip.compress(flat_text.encode("utf-8"), mtime=0)
        ds = read_verl_log(write_log("cut.log.gz", packed[: int(0.7 * len(packed))]))
        assert ds.attrs["truncated"] == 1
        assert 0 < ds.sizes["step"] < 9 and float(ds["val/success_rate"].sel(step=0)) == 0.078

    def test_garbage_bytes_and_nul_runs(self, flat_text, write_log):
        rng = np.random.default_rng(0)
        lines = flat_text.encode("utf-8").split(b"\n")
        noisy = []
        for i, line in enumerate(lines):
            noisy.append(line)
            if i % 7 == 3:
                noisy.append(bytes(rng.integers(0, 256, 40, dtype=np.uint8)).replace(b"\n", b""))
        data = b"\n".join(noisy) + b"\x00" * 64 + b"\n"
        data = data.replace(b"timing_s/gen:231.477", b"timing_s/gen:23\xff\xfe1.477")  # step 5, in a record
        ds = read_verl_log(write_log("garbage.log", data))
        assert ds.attrs["n_bad_bytes"] > 0 and ds.attrs["n_skipped"] >= 1
        assert np.isnan(float(ds["timing_s/gen"].sel(step=5)))  # the damaged entry is not read
        assert float(ds["val/success_rate"].sel(step=5)) == 0.109  # the rest of the record is
        assert ds["step"].values.tolist() == list(range(9))

    def test_nul_run_inside_a_record_cuts_it_there(self, flat_text, write_log):
        text = flat_text.replace("timing_s/gen:231.477", "timing_s/gen:231\x00\x00\x00.477")
        ds = read_verl_log(write_log("nul.log", text))
        assert np.isnan(float(ds["timing_s/gen"].sel(step=5)))  # "231" before the NULs may be cut short
        assert float(ds["val/success_rate"].sel(step=5)) == 0.109

    def test_no_header_needs_metadata(self, flat_text, write_log):
        text = "\n".join(ln for ln in flat_text.splitlines() if "main_ppo" not in ln) + "\n"
        path = write_log("headless.log", text)
        with pytest.raises(
            VerlLogError, match=r"headless\.log: cannot tell method, seed, env \(no command line\)"
        ):
            read_verl_log(path)
        ds = read_verl_log(path, method="ppo", seed=3, env="alfworld")
        assert (ds.attrs["method"], ds.attrs["seed"], ds.attrs["env"], ds.attrs["overrides"]) == (
            "ppo",
            3,
            "alfworld",
            "{}",
        )
        assert "val_episodes" not in ds.attrs and ds.sizes["step"] == 9

    def test_header_lacking_the_seed(self, flat_text, write_log):
        path = write_log("noseed.log", flat_text.replace(" env.seed=0 ", " "))
        with pytest.raises(
            VerlLogError, match=r"noseed\.log: cannot tell seed \(the command line lacks them\)"
        ):
            read_verl_log(path)
        assert read_verl_log(path, seed=0).attrs["seed"] == 0

    def test_traceback_naming_main_ppo_is_not_a_command_line(self, flat_text, write_log):
        trace = 'Traceback (most recent call last):\n  File "/x/verl/trainer/main_ppo.py", line 64, in main\n'
        text = "\n".join(ln for ln in flat_text.splitlines() if "main_ppo" not in ln)
        with pytest.raises(VerlLogError, match="no command line"):
            read_verl_log(write_log("trace.log", trace + text + "\n"))

    def test_unknown_and_malformed_metrics(self, write_log):
        text = verl_text(
            "algorithm.adv_estimator=grpo env.env_name=sokoban env.seed=1",
            "(TaskRunner pid=1) step:1 - custom/my_metric:2.5 - weird name:3 - foo:abc - bar@x:1e-3 - :4",
            "(TaskRunner pid=1) step:2 - custom/my_metric:nan - other:-7",
        )
        ds = read_verl_log(write_log("odd.log", text))
        assert ds.attrs["method"] == "grpo" and ds.attrs["env"] == "sokoban"
        assert float(ds["custom/my_metric"].sel(step=1)) == 2.5 and float(ds["bar@x"].sel(step=1)) == 0.001
        assert np.isnan(float(ds["custom/my_metric"].sel(step=2))) and float(ds["other"].sel(step=2)) == -7
        assert (
            ds.attrs["n_skipped"] == 3
        )  # "foo:abc", ":4", "nan" (a name may hold spaces: "weird name" is read)

    def test_webshop_style_metrics(self, write_log):
        text = verl_text(
            "algorithm.adv_estimator=gigpo env.env_name=WebshopOptions env.seed=0 data.val_batch_size=64",
            "(TaskRunner pid=7) step:0 - val/webshop_task_score:0.412 - val/success_rate:0.156",
            "(TaskRunner pid=7) step:1 - episode/webshop_task_score:0.3 - timing_s/step:120.5",
        )
        ds = read_verl_log(write_log("webshop.log", text))
        assert (ds.attrs["env"], ds.attrs["method"], ds.attrs["val_episodes"]) == ("webshop", "gigpo", 64)
        assert float(ds["val/webshop_task_score"].sel(step=0)) == 0.412
        assert not [v for v in ds.data_vars if str(v).startswith("val/") and str(v).endswith("_success_rate")
                    and v != "val/success_rate"]  # fmt: skip

    def test_carriage_return_progress_bars_and_ansi_codes(self, write_log):
        text = verl_text(
            "algorithm.adv_estimator=hgae env.env_name=alfworld/X env.seed=2",
            "\x1b[36m(TaskRunner pid=1)\x1b[0m \rTraining Progress:   1%|\u258f| 1/150 [05:51<14:33:52]"
            "\r\x1b[36m(TaskRunner pid=1)\x1b[0m step:1 - a/b:1.5 - c:\x1b[32m2\x1b[0m",
            "\x1b[36m(TaskRunner pid=1)\x1b[0m step:2 - a/b:2.5 [repeated 2x across cluster]",
        )
        ds = read_verl_log(write_log("bars.log", text))
        assert ds["a/b"].values.tolist() == [1.5, 2.5] and float(ds["c"].sel(step=1)) == 2.0
        assert ds.attrs["n_skipped"] == 0

    def test_a_step_logged_twice_keeps_the_later_values(self, write_log):
        text = verl_text(
            "algorithm.adv_estimator=gae env.env_name=alfworld env.seed=0",
            "(TaskRunner pid=1) step:1 - x:1 - y:5",
            "(TaskRunner pid=1) step:2 - x:2",
            "(TaskRunner pid=2) step:2 - x:20 - z:3",
        )
        ds = read_verl_log(write_log("resumed.log", text))
        assert ds["x"].values.tolist() == [1, 20] and float(ds["z"].sel(step=2)) == 3
        assert ds.attrs["n_repeated_steps"] == 1

    def test_metadata_given_wins_over_the_command_line(self):
        ds = read_verl_log(FLAT, method="ppo-pe", model="qwen-1.5b")
        assert (ds.attrs["method"], ds.attrs["adv_estimator"], ds.attrs["model"]) == (
            "ppo-pe",
            "gae",
            "qwen-1.5b",
        )

    @pytest.mark.parametrize(
        ("data", "message"),
        [(b"", "no training-step record"), (b"\x00\x01\x02\xff" * 200, "no training-step record"),
         (b"+ echo hello\nWARNING: nothing here\n", r"no training-step record \(.*\) in 2 lines")],
        ids=["empty", "binary", "no-records"],
    )  # fmt: skip
    def test_files_with_nothing_to_read(self, write_log, data, message):
        with pytest.raises(VerlLogError, match=f"bad.log: {message}"):
            read_verl_log(write_log("bad.log", data))

    def test_missing_file_and_folder(self, tmp_path):
        with pytest.raises(VerlLogError, match="nope.log: cannot read the file"):
            read_verl_log(tmp_path / "nope.log")
        with pytest.raises(VerlLogError, match="cannot read the file"):
            read_verl_log(tmp_path)

    def test_bad_metadata(self):
        with pytest.raises(VerlLogError, match=r"unknown metadata \['sead'\]"):
            read_verl_log(FLAT, sead=1)
        with pytest.raises(VerlLogError, match="seed must be an integer, saw 'five'"):
            read_verl_log(FLAT, seed="five")

    def test_random_damage_never_raises_anything_else(self, flat_text, write_log):
        """Random cuts and insertions: a dataset or a VerlLogError, never another exception."""
        rng = np.random.default_rng(1)
        data = gzip.compress(flat_text.encode("utf-8"), mtime=0)
        for i in range(40):
            raw = bytearray(data if i % 2 else flat_text.encode("utf-8"))
            for _ in range(3):
                at = int(rng.integers(0, len(raw)))
                if rng.random() < 0.5:
                    del raw[at : at + int(rng.integers(1, 400))]
                else:
                    raw[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8))
            try:
                ds = read_verl_log(write_log(f"r{i}.log", bytes(raw)), method="ppo", seed=0, env="alfworld")
            except VerlLogError as err:
                assert f"r{i}.log" in str(err)
            else:
                assert ds.sizes["step"] >= 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("alfworld/AlfredTWEnv", "alfworld"), ("alfworld/AlfredTWEnvOptions", "alfworld"),
     ("WebshopOptions", "webshop"), ("Webshop", "webshop"), ("Sokoban", "sokoban")],
)  # fmt: skip
def test_env_name(value, expected):
    assert env_name(value) == expected
