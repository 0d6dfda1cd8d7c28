"""Where a pretrained model's weights come from, checked before any job needs them.

A base model name (`hiper-repro model --name`, the pipeline's `model.name`) is a preset (`tiny-s`,
`smollm2-135m`: built or converted here, no download) or names pretrained weights: a local folder holding a
Hugging Face checkpoint (`config.json` beside the weights), or a hub id (`Qwen/Qwen2.5-1.5B-Instruct`)
whose files are already in the local Hugging Face cache. Everything runs offline (GPU nodes have no
network), so weights found in neither place stop the command, or the whole pipeline at load, with one
line saying where they were looked for, instead of a job failing hours later on a compute node.
"""

from __future__ import annotations

import os
from pathlib import Path

GUIDE = "docs/CLUSTER.md"


def names_weights(name: str) -> bool:
    """A name with a path separator or a leading '.' names weights (a folder or a hub id); a bare name
    (`tiny-s`, `smollm2-135m`) is a preset the package builds itself."""
    return os.sep in name or "/" in name or name.startswith(".")


def _in_hub_cache(name: str) -> bool:
    """`name` is a hub id (`owner/model`) whose config.json the local Hugging Face cache holds."""
    if name.startswith((".", "/")) or name.count("/") != 1:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def missing_weights(name: str) -> str | None:
    """Why the weights that `name` names cannot be loaded offline, in one line; None when they can (or
    when `name` is a preset, see `names_weights`)."""
    if not names_weights(name):
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return None
        return f"{name!r} is a folder without config.json, not a Hugging Face checkpoint"
    if _in_hub_cache(name):
        return None
    where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
    return f"no model folder {name!r}{where} and no Hugging Face cache entry of that id"


def check_weights(name: str, key: str = "--name") -> None:
    """ValueError naming `key` and how to put the weights in place when `missing_weights` finds a problem."""
    problem = missing_weights(name)
    if problem is not None:
        raise ValueError(
            f"{key}={name}: {problem}. Nothing is downloaded (compute nodes have no network): copy the "
            f"weights into a local folder first (e.g. `huggingface-cli download Qwen/Qwen2.5-1.5B-Instruct "
            f"--local-dir {name}` where there is network) and name that folder; see {GUIDE}"
        )
