"""`hiper-repro train --config FILE --out DIR [--set dotted.key=value ...] [--force] [--restart-stale]`.

Resumes from DIR's latest checkpoint when DIR holds this run, interrupted; refuses, naming the keys or the
input, when DIR holds a run trained under another config or before its inputs changed (`--restart-stale`
deletes that run and starts again, as the Snakemake rule does); keys that leave the trained iterations
as they were (`train.resume.SAFE_KEYS`, e.g. run.iterations) may change on resume with `--force`. A
finished run (DIR/done) is left alone unless `--force`. The model folder and the task files are checked
against the config before any model loads. One process per run folder: `DIR/.lock` is held for the run's
lifetime, and a second `train` into DIR stops at once naming the holder's process id (`train.lock`). Works under `accelerate launch` / `torchrun` (one process per
device); `hiper-repro --threads N` sets the CPU threads of all processes together.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from hiper_repro import methods_registry
from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.train.config import METHODS, TrainConfig, load_config, recipe_names

CRITIC_METHODS = tuple(s.name for s in methods_registry.specs() if s.family != "group")
GROUP_METHODS = tuple(s.name for s in methods_registry.specs() if s.family == "group")

REFERENCE = "hiper-repro train --show-config"


def epilog() -> str:
    """Methods, where every key is described, path and tracker rules: what a first run needs to know."""
    flat = [m for m in METHODS if TrainConfig(method=replace(TrainConfig().method, name=m)).fmt == "flat"]
    return (
        f"methods (method.name): {', '.join(METHODS)}. With a critic (value heads): {', '.join(CRITIC_METHODS)}"
        f" (hiper: hierarchical advantages, HAE); group baselines, no critic: {', '.join(GROUP_METHODS)}"
        " (hgigpo: hierarchical, critic-free); variants such as hiper-paper are a base method plus fixed"
        " settings (docs/EXTENDING.md)"
        f" (method.group_size episodes per task). Prompt format: flat for {', '.join(flat)}, Plan-Execute for"
        f" the others. Every config key with its default and meaning: `{REFERENCE}` (with --config: that file"
        " resolved). Annotated configs to start from: examples/*.yaml in the repository. Relative paths in a"
        " config file (model.path, model.critic_path, env.train_tasks, env.eval_tasks) are relative to the"
        " file's folder; in --set, to the working directory. Metrics go to DIR/metrics.csv and to the"
        " trackers of run.trackers (default [tensorboard]: DIR/tensorboard/; wandb with pip install -e"
        " '.[wandb]', WANDB_MODE=offline without network)."
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter,
        prog="hiper-repro train",
        description="Train one run of PPO with the chosen credit-assignment method into --out, resuming "
        "from its latest checkpoint.",
        epilog=epilog(),
    )
    p.add_argument(
        "--config",
        help=f"YAML config (may start from a training recipe, `recipe:` {recipe_names()}); required to train",
    )
    p.add_argument(
        "--show-config",
        action="store_true",
        help="print every config key with its value and meaning as YAML (the defaults, or --config and "
        "--set resolved) and exit",
    )
    p.add_argument("--out", help="run folder; rerunning with the same folder resumes; required to train")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. ppo.lr=1e-5"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train again even if the run folder says done; continue under changed safe keys",
    )
    p.add_argument(
        "--restart-stale",
        action="store_true",
        help="delete a run trained under another config or before its inputs changed, and start again",
    )
    return p


def show_config(cfg: TrainConfig) -> str:
    """`cfg` as YAML, each key preceded by its docstring as a comment: the config reference."""
    import dataclasses

    import yaml

    from hiper_repro.train.config_schema import field_docs

    lines = []
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        lines += ["", f"# {' '.join((type(value).__doc__ or '').split())}", f"{section.name}:"]
        docs = field_docs(type(value))
        for f in dataclasses.fields(value):
            lines.append(f"  # {docs.get(f.name, '')}")
            text = yaml.safe_dump({f.name: getattr(value, f.name)}, default_flow_style=True, width=10**6)
            lines.append("  " + text.strip().removeprefix("{").removesuffix("}"))
    return "\n".join(lines[1:]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show_config:
        cfg = load_config(args.config, args.set) if args.config else TrainConfig()
        print(show_config(cfg), end="")
        return 0
    if args.config is None or args.out is None:
        parser.error("--config and --out are required to train (or --show-config to list the keys)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from hiper_repro.train.lock import run_lock
    from hiper_repro.train.resume import prepare_run, resume_point
    from hiper_repro.train.setup import check_inputs

    out = Path(args.out)
    rank = int(os.environ.get("RANK", "0"))
    with ExitStack() as held:  # the run folder's lock, held until training ends (train.lock)
        try:
            cfg = load_config(args.config, args.set)
            check_inputs(cfg)
            if rank == 0:  # the other ranks of a distributed launch are the same run
                stale = held.enter_context(run_lock(out))
                if stale is not None:
                    print(f"hiper-repro train: {out}: took over the lock of process {stale}, which has ended")
            state = prepare_run(out, cfg, force=args.force, restart_stale=args.restart_stale, rank=rank)
            if state == "resume":
                resume_point(out, cfg)  # lost traces or metrics stop the run here, before the model loads
        except (ValueError, OSError, ImportError) as err:  # ImportError: a missing extra
            print(f"hiper-repro train: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        if state == "finished":
            print(f"hiper-repro train: {out} is finished (done marker); nothing to do", file=sys.stderr)
            return 0
        from hiper_repro.train.loop import train

        train(cfg, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
