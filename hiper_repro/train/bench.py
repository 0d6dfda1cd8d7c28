"""`hiper-repro bench train`: seconds per training iteration, split by phase, FLOPs, and peak memory.

Runs the real loop (`train.loop.train`) for a few iterations into a scratch folder, evaluating every
iteration so that evaluation is timed too, and reports per phase the mean over iterations after the
first (the first pays one-off costs; it is reported apart), tokens/s and the peak RSS of the process.

Roofline: the policy's passes are counted analytically while the loop runs (`agent/flops.py`: 2 x dense
parameters per token, 4 x hidden per attended (query, key) pair and layer, the output projection, a
backward at twice its forward). Per phase the summary gives the useful GFLOPs (real tokens), the GFLOPs
the padded tensors executed, the achieved GFLOP/s (useful / seconds) and that as a share of this CPU's
float32 matmul peak, measured in the same process at the same thread count before training starts.

    hiper-repro bench train --model DIR [--recipe cpu-tiny] [--method hiper] [--iterations 3] [--set k=v ...]

`--model` is a policy or base-model folder (a warm start; `{env}`/`{format}` placeholders allowed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from hiper_repro import methods_registry
from hiper_repro.cli_help import DefaultsFormatter

PHASES = ("time_rollout", "time_credit", "time_update", "time_eval", "time_trace")
COUNTED = ("rollout", "credit", "update", "eval")  # phases that run the policy (traces do not)


def bench_train(
    model: str, recipe: str, method: str, iterations: int, overrides: list[str], out: Path
) -> dict:
    """Train `iterations` iterations into `out`; return the timing summary (see module docstring)."""
    import pandas as pd

    from hiper_repro.agent.flops import FlopCounter, matmul_peak_gflops
    from hiper_repro.train.config import build_config
    from hiper_repro.train.loop import train
    from hiper_repro.train.setup import check_inputs

    cfg = build_config(
        {
            "recipe": recipe,
            "model": {"path": model},
            "method": {"name": method},
            "run": {
                "iterations": iterations,
                "eval_every": 1,
                "checkpoint_every": iterations,
                "progress": False,
            },
        },
        overrides,
    )
    check_inputs(cfg)  # a missing model folder or bad task file is named before anything loads
    peak = matmul_peak_gflops()
    with FlopCounter():
        train(cfg, out)
    df = pd.read_csv(out / "metrics.csv").query("iteration >= 0")  # row -1: the start's evaluation
    steady = df.iloc[1:] if len(df) > 1 else df
    run = json.loads((out / "run.json").read_text())
    summary = {
        "recipe": recipe,
        "method": method,
        "model": model,
        "episodes": cfg.rollout.episodes,
        "eval_episodes": cfg.run.eval_episodes,
        "iterations": iterations,
        "first_iteration_s": {p.removeprefix("time_"): round(float(df[p].iloc[0]), 3) for p in PHASES},
        "seconds_per_iteration": {p.removeprefix("time_"): round(float(steady[p].mean()), 3) for p in PHASES},
        "turns_per_iteration": float(steady["turns"].mean()),
        "tokens_per_s": round(float(steady["tokens_per_s"].mean()), 1),
        "peak_rss_mb": round(float(run["peak_rss_mb"]), 1),
    }
    summary["seconds_per_iteration"]["total"] = round(sum(summary["seconds_per_iteration"].values()), 3)
    summary["seconds_per_iteration"]["iteration"] = round(
        summary["seconds_per_iteration"]["total"] - summary["seconds_per_iteration"]["eval"], 3
    )
    summary["matmul_peak_gflop_per_s"] = round(peak, 1)
    summary["roofline"] = {}
    for phase in COUNTED:
        gflop = float(steady[f"gflop_{phase}"].mean())
        seconds = float(steady[f"time_{phase}"].mean())
        rate = gflop / seconds if seconds > 0 else float("nan")
        summary["roofline"][phase] = {
            "gflop": round(gflop, 3),
            "gflop_executed": round(float(steady[f"gflop_executed_{phase}"].mean()), 3),
            "gflop_per_s": round(rate, 2),
            "share_of_peak": round(rate / peak, 4),
        }
    return summary


def roofline_lines(summary: dict) -> list[str]:
    """One line per phase: seconds, useful / executed GFLOPs, achieved GFLOP/s against the matmul peak."""
    peak = summary["matmul_peak_gflop_per_s"]
    lines = [f"roofline (float32 matmul peak {peak:.1f} GFLOP/s at this thread count):"]
    for phase, r in summary["roofline"].items():
        lines.append(
            f"  {phase:<7} {summary['seconds_per_iteration'][phase]:7.3f} s  {r['gflop']:8.2f} GFLOP useful"
            f"  {r['gflop_executed']:8.2f} executed  {r['gflop_per_s']:7.2f} GFLOP/s"
            f"  {100 * r['share_of_peak']:5.1f}% of peak"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter,
        prog="hiper-repro bench train",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", required=True, help="policy or base-model folder ({env}/{format} allowed)")
    p.add_argument("--recipe", default="cpu-tiny", help="training recipe (train/recipes/*.yaml)")
    p.add_argument("--preset", help=argparse.SUPPRESS)  # the flag's old name, refused naming the new one
    p.add_argument(
        "--method", default="hiper", help=f"a registered method: {', '.join(methods_registry.names())}"
    )
    p.add_argument(
        "--iterations", type=int, default=3, help="iterations to time (the first is reported apart)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("--out", default=None, help="run folder to keep (default: a temporary one)")
    p.add_argument("--json", default=None, help="also write the summary to this JSON file")
    args = p.parse_args(argv)
    if args.preset is not None:
        p.error(f"--preset was renamed --recipe (a training recipe): use --recipe {args.preset}")
    if args.iterations < 1:
        p.error(f"--iterations must be >= 1, got {args.iterations}")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        try:
            summary = bench_train(args.model, args.recipe, args.method, args.iterations, args.set, out)
        except ValueError as err:
            print(f"hiper-repro bench train: {err}", file=sys.stderr)
            return 2
    text = json.dumps(summary, indent=1)
    print(text)
    print("\n".join(roofline_lines(summary)), file=sys.stderr)
    if args.json:
        from hiper_repro.io import write_atomic

        write_atomic(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
