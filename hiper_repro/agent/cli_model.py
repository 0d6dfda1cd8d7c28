"""Build a base model folder: ``hiper-repro model --name tiny-s --tasks a.jsonl [...] --seed 0 --out DIR``.

For a ``tiny-*`` preset the tokenizer is trained on the environments' text: the env's closed
vocabulary where it has one, every task instruction, and the observations, admissible actions and
subgoals met while the expert plays each task (so open-vocabulary envs such as TextWorld are covered by
their own task files). The model is randomly initialised from ``--seed``. For ``smollm2-135m`` or an HF
model the folder is the converted/copied checkpoint and ``--tasks`` is not needed.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from hiper_repro.agent.models import TINY_PRESETS, build_tiny_model, is_tiny, load_model, save_model
from hiper_repro.agent.tokenizer import train_word_tokenizer
from hiper_repro.agent.weights import check_weights
from hiper_repro.cli_help import DefaultsFormatter


def env_corpus(tasks: Iterable, env_options: dict | None = None) -> Iterator[str]:
    """Text an agent can meet on ``tasks``: vocabulary, instructions, expert-play observations and actions."""
    from hiper_repro.envs import expert_episode, make_env, vocabulary

    envs: dict[str, object] = {}
    for task in tasks:
        if task.env not in envs:
            envs[task.env] = make_env(task.env, **(env_options or {}))
            words: list[str] = []
            with contextlib.suppress(ValueError):  # open vocabulary: the expert play below covers it
                words = vocabulary(task.env)
            yield " ".join(words)
        yield task.instruction
        records, _ = expert_episode(envs[task.env], task, 0.0)
        for r in records:
            yield r.observation
            yield r.subgoal
            yield " ".join(r.admissible)
    for env in envs.values():
        env.close()


def build_base(
    name: str, tasks: list, seed: int, out: str | Path, cache_dir: str | Path | None = None
) -> Path:
    """Write the base model folder for ``name`` (see module docstring); returns ``out``."""
    if is_tiny(name):
        if not tasks:
            raise ValueError(f"a tiny model ({name}) needs tasks to train its tokenizer on, got none")
        tokenizer = train_word_tokenizer(env_corpus(tasks))
        model = build_tiny_model(name, tokenizer, seed)
    else:
        model, tokenizer = load_model(name, cache_dir)
    return save_model(model, tokenizer, out)


def main(argv: list[str]) -> int:
    from hiper_repro.envs import load_tasks

    ap = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro model", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--name", required=True, help=f"tiny preset {sorted(TINY_PRESETS)}, smollm2-135m, HF id/folder"
    )
    ap.add_argument(
        "--tasks", nargs="*", default=[], help="task JSONL files (tiny presets: tokenizer corpus)"
    )
    ap.add_argument("--seed", type=int, default=0, help="weight initialisation seed (tiny presets)")
    ap.add_argument("--out", required=True, help="output folder (HF checkpoint + tokenizer)")
    ap.add_argument("--cache-dir", default=None, help="where smollm2-135m is converted once")
    args = ap.parse_args(argv)
    if not is_tiny(args.name):
        check_weights(args.name)  # a missing weights folder is named before anything loads
    tasks = [t for f in args.tasks for t in load_tasks(f)]
    out = build_base(args.name, tasks, args.seed, args.out, args.cache_dir)
    print(f"wrote {out}")
    return 0
