"""`hiper-repro bench credit`: vectorised `gae` and `hae` against a per-episode Python loop.

Both run in the same process on the same random batch (random lengths and segment structure, NaN on
padding). The loop baseline is `hiper_repro.credit.reference`, the per-episode references the credit tests
use, called once per row; like the vectorised functions it returns returns as well as advantages. It runs
twice: over numpy arrays (numpy float scalars) and over plain Python lists (`.tolist()` before timing: a
faster, stricter baseline). The
vectorised side is timed end to end, argument checks included. CPU runs are timed in process CPU time
(robust to other load on a shared machine), CUDA runs in wall time after a synchronisation. Medians over
--repeat runs, and the ratio of bests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.credit.gae import gae
from hiper_repro.credit.hae import hae
from hiper_repro.credit.reference import gae_episode, hae_episode


def make_batch(batch: int, n_turns: int, seed: int, device: str, dtype: torch.dtype) -> dict:
    """A random padded batch: lengths uniform in [1, T], switch with probability 0.3, half the rows
    terminated (sparse reward 1 at their last turn), the rest truncated with a bootstrap value."""
    rng = np.random.default_rng(seed)
    length = rng.integers(1, n_turns + 1, batch)
    turn = np.arange(n_turns)
    mask = turn[None, :] < length[:, None]
    last = turn[None, :] == (length - 1)[:, None]
    ended = rng.random(batch) < 0.5
    arrays = {
        "rewards": rng.normal(0.0, 0.1, (batch, n_turns)) + (last & ended[:, None]),
        "values_low": rng.normal(0.5, 0.2, (batch, n_turns)),
        "values_high": rng.normal(0.5, 0.2, (batch, n_turns)),
    }
    for name in arrays:
        arrays[name] = np.where(mask, arrays[name], np.nan)  # padding must not matter
    out = {name: torch.tensor(x, dtype=dtype, device=device) for name, x in arrays.items()}
    out["switch"] = torch.tensor(rng.random((batch, n_turns)) < 0.3, device=device)
    out["mask"] = torch.tensor(mask, device=device)
    out["terminated"] = torch.tensor(last & ended[:, None], device=device)
    for name in ("last_value_low", "last_value_high"):
        out[name] = torch.tensor(rng.normal(0.5, 0.2, batch), dtype=dtype, device=device)
    out["length"] = length
    out["ended"] = ended
    return out


def loop_gae(src: dict, length: list[int], ended: list[bool], gamma: float, lam: float) -> list[list[float]]:
    """Flat GAE advantages, one `reference.gae_episode` call per row (the loop baseline)."""
    return [
        gae_episode(r[:n], v[:n], done, gamma, lam, boot)[0]
        for r, v, n, done, boot in zip(
            src["rewards"], src["values_low"], length, ended, src["last_value_low"]
        )
    ]


def loop_hae(
    src: dict, length: list[int], ended: list[bool], gamma: float, lam_low: float, lam_high: float
) -> tuple[list[list[float]], list[list[float]]]:
    """HAE (adv_low rows, adv_high rows), one `reference.hae_episode` call per row (the loop baseline)."""
    rows = [
        hae_episode(r[:n], vl[:n], vh[:n], sw[:n], done, gamma, lam_low, lam_high, bl, bh)
        for r, vl, vh, sw, n, done, bl, bh in zip(
            src["rewards"],
            src["values_low"],
            src["values_high"],
            src["switch"],
            length,
            ended,
            src["last_value_low"],
            src["last_value_high"],
        )
    ]
    return [row[0] for row in rows], [row[2] for row in rows]


def max_difference(got: torch.Tensor, rows: list[list[float]]) -> float:
    """Largest |got - reference| over each row's real turns (the reference rows have L_b entries)."""
    got = got.cpu().double()
    diffs = [
        (got[b, : len(row)] - torch.tensor(row, dtype=torch.float64)).abs().max()
        for b, row in enumerate(rows)
    ]
    return float(max(diffs)) if diffs else 0.0


def _timings(
    fn: Callable[[], object], repeat: int, sync: Callable[[], None], clock: Callable[[], float]
) -> tuple[float, float]:
    """(median, best) time in seconds over `repeat` runs after one warm-up run."""
    fn()  # warm-up: allocator, lazy init, cached discount matrices
    sync()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        times.append(clock() - start)
    return statistics.median(times), min(times)


def run(batch: int, n_turns: int, repeat: int, device: str, dtype: torch.dtype, seed: int) -> list[dict]:
    """Time gae and hae, vectorised and looped, on one batch; also report their largest difference."""
    gamma, lam, lam_low, lam_high = 0.99, 0.95, 0.95, 0.95
    data = make_batch(batch, n_turns, seed, device, dtype)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # On CPU, process CPU time: on a shared machine, time spent preempted by other processes would
    # otherwise land on whichever side it happened to hit. On CUDA, wall time after a synchronisation.
    clock = time.perf_counter if cuda else time.process_time
    cpu = {k: v.cpu().numpy() for k, v in data.items() if isinstance(v, torch.Tensor)}
    lists = {k: v.tolist() for k, v in cpu.items()}  # plain Python floats, converted before timing
    length, ended = data["length"].tolist(), data["ended"].tolist()

    def vec_gae():
        return gae(
            data["rewards"],
            data["values_low"],
            data["mask"],
            data["terminated"],
            gamma,
            lam,
            data["last_value_low"],
        )

    def vec_hae():
        return hae(
            data["rewards"],
            data["values_low"],
            data["values_high"],
            data["switch"],
            data["mask"],
            data["terminated"],
            gamma,
            lam_low,
            lam_high,
            data["last_value_low"],
            data["last_value_high"],
        )

    def py_gae(src: dict = lists):
        return [loop_gae(src, length, ended, gamma, lam)]

    def py_hae(src: dict = lists):
        return loop_hae(src, length, ended, gamma, lam_low, lam_high)

    rows = []
    for name, vec, py, pick in (
        ("gae", vec_gae, py_gae, lambda out: [out[0]]),
        ("hae", vec_hae, py_hae, lambda out: [out.adv_low, out.adv_high]),
    ):
        error = max(max_difference(got, ref) for got, ref in zip(pick(vec()), py()))
        t_vec, best_vec = _timings(vec, repeat, sync, clock)
        t_loop, best_loop = _timings(py, max(3, repeat // 4), lambda: None, clock)
        t_numpy, _ = _timings(lambda py=py: py(cpu), max(3, repeat // 4), lambda: None, clock)
        rows.append(
            {
                "name": name,
                "vectorised_s": t_vec,
                "loop_s": t_loop,
                "ratio": t_loop / t_vec,
                "best_ratio": best_loop / best_vec,
                "loop_numpy_s": t_numpy,
                "ratio_numpy": t_numpy / t_vec,
                "max_abs_diff": error,
            }
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter,
        prog="hiper-repro bench credit",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--batch", type=int, default=1024, help="episodes B (default 1024)")
    parser.add_argument("--turns", type=int, default=50, help="turns T per episode (default 50)")
    parser.add_argument(
        "--repeat", type=int, default=40, help="timed runs of the vectorised side (default 40)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.turns < 1 or args.repeat < 1:
        parser.error(
            f"--batch, --turns and --repeat must be >= 1, got {args.batch}, {args.turns}, {args.repeat}"
        )
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here")
    rows = run(args.batch, args.turns, args.repeat, args.device, getattr(torch, args.dtype), args.seed)
    print(
        f"credit benchmark: B={args.batch} T={args.turns} {args.dtype} on {args.device}, "
        f"{torch.get_num_threads()} CPU thread(s) (`hiper-repro --threads N`), {'wall' if args.device.startswith('cuda') else 'CPU'} time; median of {args.repeat} vectorised runs and "
        f"{max(3, args.repeat // 4)} loop runs (ratio of bests in brackets); loops over Python lists and "
        "over numpy floats"
    )
    print(
        f"{'estimator':<10}{'vectorised (ms)':>17}{'list loop (ms)':>16}{'ratio':>9}{'(best)':>10}"
        f"{'numpy loop (ms)':>17}{'ratio':>9}{'max |diff|':>12}"
    )
    for row in rows:
        print(
            f"{row['name']:<10}{row['vectorised_s'] * 1e3:>17.3f}{row['loop_s'] * 1e3:>16.2f}"
            f"{row['ratio']:>8.1f}x{'(' + format(row['best_ratio'], '.1f') + 'x)':>10}"
            f"{row['loop_numpy_s'] * 1e3:>17.2f}{row['ratio_numpy']:>8.1f}x{row['max_abs_diff']:>12.1e}"
        )
    return 0
