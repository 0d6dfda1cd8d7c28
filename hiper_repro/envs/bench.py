"""``hiper-repro bench envs``: environment steps per second, built-in envs against TextWorld.

Every env plays uniformly random admissible actions, resetting when an episode ends. TextWorld is
timed twice: raw (``textworld.start`` without extra infos, random commands from the first state's
admissible list, reset every 50 steps) and through our adapter (admissible commands and walkthrough
requested on every step). The envs are timed in interleaved bursts (``--rounds``), so load from other
processes on a shared machine hits them alike and the ratios stay fair. Prints steps/s and the ratios
built-in / TextWorld raw (goal: >= 50x).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import warnings
from collections.abc import Callable

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.envs.registry import make_env
from hiper_repro.envs.tasks import make_tasks
from hiper_repro.io import write_atomic

Runner = tuple[Callable[[], None], Callable[[], bool]]  # (reset, step -> episode over)


def env_runner(name: str, tasks, seed: int = 0, **options) -> Runner:
    """Reset/step closures playing random admissible actions in ``name`` over ``tasks`` in turn."""
    env, rng = make_env(name, **options), random.Random(seed)
    state = {"obs": None, "i": 0}

    def reset() -> None:
        state["obs"] = env.reset(tasks[state["i"] % len(tasks)])
        state["i"] += 1

    def step() -> bool:
        obs, _, terminated, truncated, _ = env.step(rng.choice(state["obs"].admissible))
        state["obs"] = obs
        return terminated or truncated

    return reset, step


def textworld_raw_runner(path: str, seed: int = 0) -> Runner:
    """Reset/step closures for a bare ``textworld.start`` game (no extra infos requested)."""
    import textworld

    rng = random.Random(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = textworld.start(path, request_infos=textworld.EnvInfos(admissible_commands=True))
        commands = list(probe.reset().admissible_commands)
        probe.close()
        env = textworld.start(path)
    state = {"n": 0}

    def reset() -> None:
        env.reset()
        state["n"] = 0

    def step() -> bool:
        _, _, done = env.step(rng.choice(commands))
        state["n"] += 1
        return done or state["n"] >= 50

    return reset, step


def measure(runners: dict[str, Runner], seconds: float, rounds: int = 5) -> dict[str, float]:
    """Steps/s of each runner: ``rounds`` interleaved bursts of ``seconds / rounds`` each."""
    steps = dict.fromkeys(runners, 0)
    spent = dict.fromkeys(runners, 0.0)
    for reset, _ in runners.values():
        reset()
    for _ in range(rounds):
        for name, (reset, step) in runners.items():
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                for _ in range(20):
                    if step():
                        reset()
                steps[name] += 20
            spent[name] += time.perf_counter() - start
    return {name: steps[name] / spent[name] for name in runners}


def bench_env(name: str, tasks, seconds: float, seed: int = 0, **options) -> float:
    """Steps/s of one env under random admissible actions."""
    return measure({name: env_runner(name, tasks, seed, **options)}, seconds, rounds=1)[name]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro bench envs", description=__doc__
    )
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per env")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved bursts per env")
    parser.add_argument("--cache-dir", default=None, help="TextWorld game cache")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    from hiper_repro.envs.textworld_env import ensure_game

    tw_tasks = make_tasks("textworld", args.horizon, "train", 1, cache_dir=args.cache_dir)
    runners = {
        name: env_runner(name, make_tasks(name, args.horizon, "train", 50)) for name in ("household", "shop")
    }
    runners["textworld"] = env_runner("textworld", tw_tasks, cache_dir=args.cache_dir)
    runners["textworld_raw"] = textworld_raw_runner(str(ensure_game(tw_tasks[0].spec, args.cache_dir)))
    rates = measure(runners, args.seconds, args.rounds)
    print(
        f"env steps/s, horizon {args.horizon}, random admissible actions, one process, {os.cpu_count()} cpus"
    )
    for name, rate in rates.items():
        print(f"  {name:<14} {rate:>12,.0f} steps/s")
    for name in ("household", "shop"):
        ratio = rates[name] / rates["textworld_raw"]
        print(
            f"  {name} / textworld raw: {ratio:,.0f}x ({'meets' if ratio >= 50 else 'misses'} the 50x goal)"
        )
    if args.json:
        write_atomic(args.json, json.dumps({"horizon": args.horizon, "steps_per_s": rates}, indent=2))
    return 0
