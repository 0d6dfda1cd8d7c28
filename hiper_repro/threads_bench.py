"""`hiper-repro bench threads`: the package's default thread count on a machine another process keeps busy.

Starts ``--busy N`` busy-loop processes (default 1), then times `hae` on the credit benchmark's random
(B, T) batch (default 1024 x 50) under three thread counts, interleaved round by round so that load
changes hit all three alike:

- ``one``: one thread, the floor;
- ``default``: what `hiper-repro` now picks when neither ``--threads`` nor OMP_NUM_THREADS is given
  (`hiper_repro.threads`: the idle cores, measured while the busy processes run);
- ``per-core``: one thread per usable core, torch's own default (what every command used before).

Prints median wall milliseconds per call and each median's ratio to ``one``: a ratio near 1 for
``default`` means the slowdown is gone. Wall time, not CPU time: the cost is time spent waiting for a
descheduled thread, which CPU time does not see.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from hiper_repro.threads import busy_cores, local_processes, resolve_threads, usable_cores


def default_threads() -> int:
    """The count `hiper-repro` picks with no --threads and no OMP_NUM_THREADS, measured now."""
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return resolve_threads(None, environ, usable_cores(), busy_cores(local_processes(environ)))[0]


def start_busy(n: int) -> list[subprocess.Popen]:
    """`n` processes that spin on one core each until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def time_settings(settings: dict[str, int], batch: int, horizon: int, repeat: int) -> dict[str, list[float]]:
    """Wall seconds of one `hae` call per setting, `repeat` interleaved rounds after a warm-up each."""
    import torch

    from hiper_repro.credit.bench import make_batch
    from hiper_repro.credit.hae import hae

    b = make_batch(batch, horizon, 0, "cpu", torch.float32)
    names = ("rewards", "values_low", "values_high", "switch", "mask", "terminated")
    args = [b[k] for k in names] + [0.99, 0.95, 0.95, b["last_value_low"], b["last_value_high"]]

    def call() -> float:
        start = time.perf_counter()
        hae(*args)
        return time.perf_counter() - start

    for n in settings.values():
        torch.set_num_threads(n)
        call()
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(repeat):
        for name, n in settings.items():
            torch.set_num_threads(n)
            times[name].append(call())
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hiper-repro bench threads", description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=1, help="busy-loop processes to start (default 1)")
    parser.add_argument("--batch", type=int, default=1024, help="episodes B (default 1024)")
    parser.add_argument("--horizon", type=int, default=50, help="turns T (default 50)")
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if min(args.batch, args.horizon, args.repeat) < 1 or args.busy < 0:
        parser.error("--batch, --horizon and --repeat must be >= 1 and --busy >= 0")
    import torch

    threads_before = torch.get_num_threads()
    busy = start_busy(args.busy)
    try:
        time.sleep(0.5)  # let the scheduler place them before measuring what is idle
        settings = {"one": 1, "default": default_threads(), "per-core": usable_cores()}
        times = time_settings(settings, args.batch, args.horizon, args.repeat)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
        torch.set_num_threads(threads_before)
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "busy_processes": args.busy,
        "cores": usable_cores(),
        "threads": settings,
        "median_ms": {k: v * 1e3 for k, v in medians.items()},
        "ratio_to_one": {k: v / medians["one"] for k, v in medians.items()},
    }
    print(
        f"hae on B={args.batch} T={args.horizon}, {usable_cores()} cores, {args.busy} busy-loop process(es), "
        f"median wall time of {args.repeat} interleaved calls"
    )
    print(f"{'setting':<10}{'threads':>8}{'ms':>10}{'ratio to one':>14}")
    for name in settings:
        print(
            f"{name:<10}{settings[name]:>8}{medians[name] * 1e3:>10.2f}{medians[name] / medians['one']:>13.1f}x"
        )
    if args.json:
        from hiper_repro.io import write_atomic

        write_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0
