"""Trace files carry checksums: a flipped bit in any value, number or text, fails on read, naming the
file and the variable; `validate` and `aggregate` exit 2. Files written before checksums still open."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from hiper_repro.cli import main
from hiper_repro.traces.store import ENGINE, UnreadableTraceFile, read_tree, write_tree
from hiper_repro.traces.synthetic import synthetic_writer


@pytest.fixture
def run_file(tmp_path):
    path = tmp_path / "run" / "traces.nc"
    path.parent.mkdir()
    write_tree(synthetic_writer("hiper", 2, 0, iterations=2, episodes=4).tree(), path)
    return path


def _flip(path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def _chunk_offsets(path, name: str) -> list[int]:
    with h5py.File(path, "r") as h5:
        dset = h5[name]
        return [dset.id.get_chunk_info(i).byte_offset for i in range(dset.id.get_num_chunks())]


@pytest.mark.parametrize("name", ["segments/value_high", "turns/logprob", "episodes/success", "turns/mask"])
def test_a_flipped_bit_in_a_numeric_chunk_names_the_variable(run_file, name, capsys):
    """The QA's case: one flipped byte turned 616 values of segments/value_high into NaN, unnoticed."""
    _flip(run_file, _chunk_offsets(run_file, name)[0] + 3, bit=5)
    with pytest.raises(UnreadableTraceFile, match=rf"{run_file}: variable /{name} fails its checksum"):
        read_tree(run_file)
    assert main(["validate", str(run_file)]) == 2
    assert f"/{name} fails its checksum" in capsys.readouterr().err
    assert main(["aggregate", "--runs", str(run_file.parent), "--out", str(run_file.parent / "m.nc")]) == 2
    assert not (run_file.parent / "m.nc").exists()


def test_a_changed_character_in_a_text_variable_names_it(run_file, capsys):
    """Task ids and subgoals are variable-length strings, which HDF5 cannot checksum: their CRC-32 does."""
    tree = read_tree(run_file)
    task = str(tree["episodes"]["task_id"].values.ravel()[0])
    data = bytearray(run_file.read_bytes())
    at = data.find(task.encode())
    assert at > 0
    data[at + len(task) - 1] ^= 1  # one character of the heap's copy of the id
    run_file.write_bytes(bytes(data))
    with pytest.raises(UnreadableTraceFile, match=r"variable /episodes/task_id fails its checksum"):
        read_tree(run_file)
    assert main(["validate", str(run_file)]) == 2


@pytest.mark.slow
def test_random_flips_fail_or_change_nothing(run_file, tmp_path):
    """Flips anywhere in the file: an error naming it, or a tree identical to the one written."""
    good = read_tree(run_file)
    raw = run_file.read_bytes()
    rng = np.random.default_rng(3)
    outcomes = set()
    for i in range(30):
        path = tmp_path / f"f{i}.nc"
        path.write_bytes(raw)
        _flip(path, int(rng.integers(0, len(raw))), int(rng.integers(0, 8)))
        try:
            tree = read_tree(path)
        except (UnreadableTraceFile, ValueError) as err:
            assert str(path) in str(err) and "\n" not in str(err)
            outcomes.add("error")
            continue
        for node in good.subtree:
            assert tree[node.path].to_dataset().identical(node.to_dataset()), f"flip {i}: {node.path} differs"
        outcomes.add("same")
    assert "error" in outcomes and "same" in outcomes


def test_a_file_without_checksums_opens_with_a_note(run_file, tmp_path, capsys):
    old = tmp_path / "old.nc"
    synthetic_writer("hiper", 2, 0, iterations=2, episodes=4).tree().to_netcdf(
        old, engine=ENGINE
    )  # as before
    with h5py.File(old, "r") as h5:
        assert not h5["turns/logprob"].fletcher32
    notes: list[str] = []
    tree = read_tree(old, notes)
    assert notes == ["written without checksums (an older file): a damaged value in it would go unnoticed"]
    assert "checksums" not in tree.attrs
    assert main(["validate", str(old)]) == 0
    assert "ok (run); note: written without checksums" in capsys.readouterr().out
    notes = []
    read_tree(run_file, notes)
    assert notes == []


def test_checksums_never_reach_the_data(run_file, tmp_path):
    """Checksum attributes are checked and dropped on read: rewriting a read tree gives the same file."""
    tree = read_tree(run_file)
    assert all("checksum_crc32" not in tree[n.path][v].attrs for n in tree.subtree for v in n.variables)
    again = tmp_path / "again.nc"
    write_tree(tree, again)
    assert read_tree(again).identical(tree)
    assert isinstance(tree["turns"].to_dataset(), xr.Dataset)
