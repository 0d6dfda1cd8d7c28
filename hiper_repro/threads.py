"""How many CPU threads a command uses, decided before numpy or torch is imported.

torch and the BLAS libraries size their thread pools from OMP_NUM_THREADS / MKL_NUM_THREADS when they
load, and default to one thread per core. When another process keeps a core busy, every parallel region
waits for the pool's thread on that core to be scheduled, so small tensor ops run 10-250x slower than
on one thread (HAE on a 1024 x 50 batch: 575-846 ms against 2.4 ms on a 2-core machine). `hiper-repro`
therefore sets the count before it imports a command, from the first of:

1. ``--threads N``: all the command's processes together (the Snakemake rules pass the job's
   ``threads``); a distributed launch gives each of its P local processes ``N // P``;
2. ``OMP_NUM_THREADS`` already in the environment, per process (Snakemake sets it to the job's
   ``threads`` in every shell command; torchrun to 1 when it starts several processes);
3. the cores this process may use, less those other processes keep busy right now, divided by the
   local processes of a distributed launch (``LOCAL_WORLD_SIZE``, set by torchrun and accelerate).

Every count is at least 1. This module imports nothing heavy: `hiper_repro.cli` calls it first.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

# Variables the OpenMP, MKL, OpenBLAS, Accelerate (macOS) and numexpr pools read when they load.
THREAD_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, which taskset and cpusets restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def local_processes(environ: Mapping[str, str] = os.environ) -> int:
    """Processes a distributed launch started on this machine (1 outside torchrun / accelerate)."""
    raw = environ.get("LOCAL_WORLD_SIZE", "")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else 1


def busy_cores(processes: int = 1, samples: int = 5, interval_s: float = 0.002) -> int:
    """Cores other processes keep busy now: runnable tasks in /proc/loadavg, less this launch's own.

    The smallest of a few samples, so a short-lived task does not count. Only meaningful when this
    process may use every CPU of the machine (the count is machine-wide): 0 otherwise, and where
    /proc/loadavg does not exist.
    """
    if usable_cores() != (os.cpu_count() or 0):
        return 0
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as fh:
                running = int(fh.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(running - processes)  # the reader and its sibling processes are not "other"
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(0, min(counts))


def resolve_threads(
    explicit: int | None,
    environ: Mapping[str, str],
    cores: int,
    busy: int,
) -> tuple[int, str]:
    """The thread count per process and where it came from (see the module docstring for the order).

    Pure: `cores` and `busy` are passed in (`usable_cores()`, `busy_cores()`), so it is testable.
    """
    processes = local_processes(environ)
    if explicit is not None:
        if explicit < 1:
            raise ValueError(f"--threads must be >= 1, got {explicit}")
        return max(1, explicit // processes), f"--threads {explicit} over {processes} process(es)"
    raw = environ.get("OMP_NUM_THREADS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"OMP_NUM_THREADS={raw!r}: expected an integer >= 1")
        return int(raw), "OMP_NUM_THREADS"
    free = max(1, cores - busy)
    return max(1, free // processes), f"{cores} cores, {busy} busy, {processes} process(es)"


def apply_threads(n: int) -> None:
    """Set every pool's variable to `n`, and torch's pool too if torch is already loaded."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def configure_threads(explicit: int | None) -> tuple[int, str]:
    """Resolve the count for this process and apply it; returns (count, source)."""
    processes = local_processes(os.environ)
    need_load = explicit is None and not os.environ.get("OMP_NUM_THREADS", "").strip()
    busy = busy_cores(processes) if need_load else 0
    n, source = resolve_threads(explicit, os.environ, usable_cores(), busy)
    apply_threads(n)
    return n, source
