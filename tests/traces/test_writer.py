"""TraceWriter: round trips, padding, keep_every, resume after a crash, bad input, atomic writes."""

import numpy as np
import pytest
from xarray.testing import assert_identical

from hiper_repro.traces.provenance import make_provenance
from hiper_repro.traces.store import read_tree
from hiper_repro.traces.synthetic import synthetic_writer
from hiper_repro.traces.validate import schema_problems
from hiper_repro.traces.writer import TraceWriter, storage_size

CREATED = "2026-01-01T00:00:00+00:00"


def attrs(method="hiper"):
    return make_provenance(
        config={"lr": 1e-6, "method": method}, method=method, env="household", horizon=2, seed=0,
        model_id="tiny-s", device="cpu", created=CREATED,
    )  # fmt: skip


def batch(lengths, T, n_seg=0, rng=None):
    """One iteration of hand-made arrays: episodes of the given lengths, padded to T turns."""
    rng = rng or np.random.default_rng(0)
    lengths = np.asarray(lengths)
    E = len(lengths)
    mask = np.arange(T)[None] < lengths[:, None]
    turns = {
        "mask": mask,
        "reward": rng.normal(size=(E, T)),
        "valid": mask.copy(),
        "segment_id": np.where(mask, 0, -1),
    }
    segments = {}
    if n_seg:
        start = np.full((E, n_seg), -1)
        start[:, 0] = 0
        segments = {"start_turn": start, "subgoal": np.where(start >= 0, "find the mug", "")}
    episodes = {"task_id": [f"task-{i}" for i in range(E)], "success": lengths % 2, "length": lengths}
    return turns, segments, episodes


def test_round_trip_is_identical(tmp_path):
    writer = synthetic_writer("hiper", 3, 0, path=tmp_path, iterations=3, episodes=4)
    writer.flush()
    back = read_tree(tmp_path / "traces.nc")
    assert_identical(back, writer.tree())
    assert back["turns"]["mask"].dtype == bool and back["segments"]["subgoal"].dtype.kind == "U"
    assert schema_problems(back) == []
    assert [p.name for p in tmp_path.iterdir()] == ["traces.nc"]  # no temp file left behind


def test_ragged_iterations_are_padded_with_fills():
    writer = TraceWriter(None, attrs())
    writer.add_iteration(0, *batch([3, 1], T=5, n_seg=2))
    writer.add_iteration(1, *batch([2, 4, 1], T=4))
    tree = writer.tree()
    turns, episodes, segments = (tree[g].to_dataset() for g in ("turns", "episodes", "segments"))
    assert dict(turns.sizes) == {"iteration": 2, "episode": 3, "turn": 4}  # trailing empty turn trimmed
    assert np.isnan(turns["reward"].values[0, 2]).all() and not turns["mask"].values[0, 2].any()
    assert (turns["segment_id"].values[0, 2] == -1).all()
    assert episodes["task_id"].values[0, 2] == "" and np.isnan(episodes["success"].values[0, 2])
    assert segments.sizes["segment"] == 1 and (segments["start_turn"].values[1] == -1).all()
    np.testing.assert_array_equal(episodes["length"].values[1], [2, 4, 1])
    # Quantities the method does not have are NaN.
    assert turns["adv_high"].isnull().all()
    assert schema_problems(tree) == []


def test_caller_padding_does_not_change_the_record():
    a, b = TraceWriter(None, attrs()), TraceWriter(None, attrs())
    turns, segments, episodes = batch([3, 2], T=3)
    a.add_iteration(0, turns, segments, episodes)
    # Same data padded to 8 turns, with garbage in the padding.
    wide = {k: np.concatenate([v, np.ones((2, 5), v.dtype)], 1) for k, v in turns.items()}
    wide["mask"][:, 3:] = False
    b.add_iteration(0, wide, segments, episodes)
    assert_identical(a.tree(), b.tree())


def test_keep_every_stores_every_nth_iteration_but_all_evaluations():
    writer = TraceWriter(None, attrs(), keep_every=3)
    for it in range(7):
        writer.add_iteration(it, *batch([2], T=2))
        writer.add_evaluation(it, {"task_id": ["e0"], "success": [True]})
    assert writer.iterations == [0, 3, 6]
    tree = writer.tree()
    assert tree.attrs["keep_every"] == 3 and tree["evaluation"].sizes["eval_iteration"] == 7


@pytest.mark.parametrize("keep_every", [1, 2])
def test_killed_and_resumed_run_gives_the_same_file(tmp_path, keep_every):
    """Crash after iteration 4 with a checkpoint at 2: resume drops 3 and 4, replays, same final file."""
    data = {
        it: batch(np.random.default_rng(it).integers(1, 6, size=3 + it % 2), T=6, n_seg=2) for it in range(6)
    }

    def play(writer, iterations, flush_at):
        for it in iterations:
            writer.add_iteration(it, *data[it])
            if it % 2 == 0:  # labelled by the updates completed: the one after iteration 2 is kept
                writer.add_evaluation(it + 1, {"task_id": ["e0", "e1"], "success": [it > 2, True]})
            if it in flush_at:  # a trainer flushes every iteration; these suffice to test resuming
                writer.flush()

    full = TraceWriter(tmp_path / "full", attrs(), keep_every=keep_every)
    play(full, range(6), flush_at={5})
    crashed = TraceWriter(tmp_path / "crash", attrs(), keep_every=keep_every)
    play(crashed, range(5), flush_at={4})  # checkpoint at 2, killed after writing 4
    resumed = TraceWriter.resume(tmp_path / "crash", upto_iteration=2, keep_every=keep_every)
    assert resumed.iterations == [it for it in (0, 1, 2) if it % keep_every == 0]
    play(resumed, range(3, 6), flush_at={5})
    assert_identical(read_tree(tmp_path / "crash/traces.nc"), read_tree(tmp_path / "full/traces.nc"))


def test_resume_checks(tmp_path):
    writer = TraceWriter(tmp_path, attrs(), keep_every=2)
    writer.add_iteration(0, *batch([2], T=2))
    writer.flush()
    with pytest.raises(FileExistsError, match="resume"):
        TraceWriter(tmp_path, attrs())
    with pytest.raises(ValueError, match="keep_every=1 but .* keep_every=2"):
        TraceWriter.resume(tmp_path, 0, keep_every=1)
    with pytest.raises(FileNotFoundError):
        TraceWriter.resume(tmp_path / "nowhere", 0)
    resumed = TraceWriter.resume(tmp_path, 0, keep_every=2)
    with pytest.raises(ValueError, match="iteration must be an int > 0"):
        resumed.add_iteration(0, *batch([2], T=2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t, s, e: t.update(bogus=t["mask"]), r"turns: unknown variables \['bogus'\]"),
        (
            lambda t, s, e: t.update(reward=t["reward"][:, :2]),
            r"turns: every array must have the same 2-D shape",
        ),
        (lambda t, s, e: t.update(mask=t["mask"].astype(float)), r"turns\['mask'\]: expected bool values"),
        (lambda t, s, e: t.update(segment_id=t["reward"]), r"turns\['segment_id'\]: expected int values"),
        (lambda t, s, e: t.pop("mask"), r"turns: variable 'mask' is required"),
        (lambda t, s, e: e.update(task_id=["a", ""]), r"episodes\['task_id'\]: empty at entries \[1\]"),
        (
            lambda t, s, e: e.update(task_id=["a", "b", "c"], success=[1, 0, 1], length=[1, 1, 1]),
            r"turns: expected 3 episodes \(from episodes",
        ),
        (lambda t, s, e: t["mask"].__setitem__((0, 0), False), r"real turns must be a prefix"),
        (lambda t, s, e: s.update(subgoal=np.ones((2, 1))), r"segments: variable 'start_turn' is required"),
    ],
    ids=[
        "unknown",
        "shape",
        "mask-dtype",
        "int-dtype",
        "no-mask",
        "empty-task",
        "episode-count",
        "mask-gap",
        "no-start",
    ],
)
def test_bad_input_names_the_problem(change, message):
    writer = TraceWriter(None, attrs())
    turns, segments, episodes = batch([3, 2], T=4)
    change(turns, segments, episodes)
    with pytest.raises(ValueError, match=message):
        writer.add_iteration(0, turns, segments, episodes)
    assert writer.iterations == []


def test_bad_iteration_and_attrs():
    writer = TraceWriter(None, attrs())
    writer.add_iteration(3, *batch([1], T=1))
    with pytest.raises(ValueError, match="iteration must be an int > 3"):
        writer.add_iteration(3, *batch([1], T=1))
    with pytest.raises(ValueError, match="flush: .*path=None"):
        writer.flush()
    with pytest.raises(ValueError, match=r"missing provenance keys \['git_commit'"):
        TraceWriter(None, {k: v for k, v in attrs().items() if k != "git_commit"})
    with pytest.raises(ValueError, match="keep_every must be an int >= 1"):
        TraceWriter(None, attrs(), keep_every=0)


class ArrayLike:
    """Exposes only the __array__ protocol, as CPU torch tensors do (importing torch here costs seconds)."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)


def test_array_likes_such_as_tensors_are_accepted():
    writer = TraceWriter(None, attrs())
    turns, segments, episodes = batch([2, 1], T=2)
    writer.add_iteration(0, {k: ArrayLike(v) for k, v in turns.items()}, segments, episodes)
    expected = np.where(turns["mask"], turns["reward"], np.nan).astype(np.float32)
    np.testing.assert_array_equal(writer.tree()["turns"]["reward"].values[0], expected)


def test_storage_size_per_iteration(tmp_path):
    writer = synthetic_writer("hiper", 3, 0, path=tmp_path, iterations=12, episodes=32)
    writer.flush()
    size = storage_size(tmp_path)
    assert size["iterations"] == 12 and size["bytes"] == (tmp_path / "traces.nc").stat().st_size
    assert size["bytes_per_iteration"] == pytest.approx(writer.bytes_per_iteration)
    # 32 episodes x 20 turns: compression of the padding beats HDF5's per-variable overhead.
    in_memory = sum(node.to_dataset(inherit=False).nbytes for node in writer.tree().subtree)
    assert size["bytes"] < in_memory


def test_ragged_lists_are_refused_clearly():
    writer = TraceWriter(None, attrs())
    turns, segments, episodes = batch([1, 1], T=1)
    turns["reward"] = [[0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match=r"turns\['reward'\]: cannot convert list"):
        writer.add_iteration(0, turns, segments, episodes)


def test_unconvertible_tensors_are_refused_clearly():
    class GradTensor:  # what a torch tensor that requires grad does under np.asarray
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")

    writer = TraceWriter(None, attrs())
    turns, segments, episodes = batch([1], T=1)
    turns["value_low"] = GradTensor()
    with pytest.raises(ValueError, match=r"turns\['value_low'\]: cannot convert GradTensor .*requires grad"):
        writer.add_iteration(0, turns, segments, episodes)
