"""``EnvPool``: reset and step N environments with one call, in-process or in worker processes.

In-process (``workers=0``, the default) is right for the built-in envs, whose steps cost microseconds.
Slow engines (TextWorld, ALFWorld) can run in ``workers`` processes, each owning a contiguous slice of
the N environments; a call sends each worker its slice and gathers the answers in order, so results
are identical to in-process ones.

``reset(tasks)`` takes at most N tasks (environment i plays ``tasks[i]``); ``step(actions)`` takes one
action per reset environment, where ``None`` leaves that environment untouched (its result is ``None``),
so a rollout can keep stepping the unfinished episodes of a batch.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import traceback
from collections.abc import Sequence

from hiper_repro.envs.protocol import ExpertStep, Observation, StepResult, Task
from hiper_repro.envs.registry import make_env


class _Local:
    """A slice of environments living in this process."""

    def __init__(self, name: str, n: int, options: dict) -> None:
        self.envs = [make_env(name, **options) for _ in range(n)]

    def reset(self, tasks: Sequence[Task]) -> list[Observation]:
        return [env.reset(task) for env, task in zip(self.envs, tasks)]

    def step(self, actions: Sequence[str | None]) -> list[StepResult | None]:
        return [None if a is None else StepResult(*env.step(a)) for env, a in zip(self.envs, actions)]

    def expert(self, k: int) -> list[ExpertStep | None]:
        return [env.expert() for env in self.envs[:k]]

    def max_steps(self, k: int) -> list[int]:
        return [env.max_steps for env in self.envs[:k]]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn, name: str, n: int, options: dict) -> None:
    local = None
    try:
        local = _Local(name, n, options)
        conn.send(("ok", None))
        while True:
            method, arg = conn.recv()
            if method == "close":
                break
            try:
                conn.send(("ok", getattr(local, method)(arg)))
            except Exception as err:  # sent back and re-raised in the parent, with the worker's traceback
                conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    finally:
        if local is not None:
            local.close()
        conn.close()


class EnvPool:
    """N copies of environment ``name``; ``options`` go to :func:`make_env`."""

    def __init__(self, name: str, n: int, workers: int = 0, **options) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        if not isinstance(workers, int) or not workers >= 0:
            raise ValueError(f"workers must be an int >= 0, got {workers!r}")
        self.name, self.n, self.workers = name, n, min(workers, n)
        self.active = 0  # environments reset by the last reset()
        self._local: _Local | None = None
        self._procs: list = []
        self._conns: list = []
        self._sizes: list[int] = []
        if self.workers == 0:
            self._local = _Local(name, n, options)
            return
        ctx = mp.get_context("spawn")  # no fork: engines may hold threads or open files
        base, extra = divmod(n, self.workers)
        self._sizes = [base + (w < extra) for w in range(self.workers)]
        for size in self._sizes:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, name, size, options), daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)
        for conn in self._conns:
            self._receive(conn)

    @staticmethod
    def _receive(conn):
        status, payload = conn.recv()
        if status == "error":
            raise RuntimeError(f"env worker failed: {payload}")
        return payload

    def _scatter(self, method: str, items: Sequence) -> list:
        """Send each worker its slice of ``items`` and concatenate the answers in order."""
        out, start = [], 0
        used = []
        for conn, size in zip(self._conns, self._sizes):
            chunk = list(items[start : start + size])
            start += size
            if chunk:
                conn.send((method, chunk))
                used.append(conn)
        for conn in used:
            out += self._receive(conn)
        return out

    def _broadcast(self, method: str) -> list:
        out, remaining = [], self.active
        used = []
        for conn, size in zip(self._conns, self._sizes):
            k = min(size, remaining)
            remaining -= k
            if k:
                conn.send((method, k))
                used.append(conn)
        for conn in used:
            out += self._receive(conn)
        return out

    def reset(self, tasks: Sequence[Task]) -> list[Observation]:
        """Environment i plays ``tasks[i]``; at most N tasks."""
        if not 1 <= len(tasks) <= self.n:
            raise ValueError(f"tasks must hold 1..{self.n} tasks (pool size), got {len(tasks)}")
        self.active = len(tasks)
        if self._local is not None:
            return self._local.reset(tasks)
        return self._scatter("reset", tasks)

    def step(self, actions: Sequence[str | None]) -> list[StepResult | None]:
        """One action per reset environment (``None``: leave it alone and get ``None`` back)."""
        if len(actions) != self.active:
            raise ValueError(
                f"actions must hold one entry per reset environment ({self.active}), got {len(actions)}"
            )
        if self._local is not None:
            return self._local.step(actions)
        return self._scatter("step", actions)

    def experts(self) -> list[ExpertStep | None]:
        """The expert's step for each reset environment's current state."""
        if self._local is not None:
            return self._local.expert(self.active)
        return self._broadcast("expert")

    def max_steps(self) -> list[int]:
        """The step limit of each reset environment's task."""
        if self._local is not None:
            return self._local.max_steps(self.active)
        return self._broadcast("max_steps")

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):  # the worker may be gone already
                conn.send(("close", None))
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
