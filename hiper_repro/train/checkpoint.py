"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

Layout of one checkpoint, `DIR/checkpoints/iter_000010/`:

    weights.safetensors     trainable parameters by name (all weights, or the LoRA adapter), value heads
    optimizer.safetensors   optimizer state tensors, keyed "{group}.{param index}.{state key}"
    rng.safetensors         torch CPU RNG, CUDA RNGs, and named torch.Generator states (uint8 tensors)
    state.json              iteration, optimizer param-group scalars and non-tensor state, scheduler
                            state, python and numpy RNG states, caller extras; written last

The folder is built under a temporary name and renamed into place, so a checkpoint either exists whole or
not at all; `latest_checkpoint` ignores anything else.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from hiper_repro.io import atomic_dir

CKPT_RE = re.compile(r"^iter_(\d{6})$")


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters with requires_grad, by name: full weights, or adapter + heads under LoRA."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{idx}.{key}"] = val
            else:
                scalars[f"{idx}.{key}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for flat, val in list(tensors.items()) + list(meta["scalars"].items()):
        idx, key = flat.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_rng(generators: dict[str, torch.Generator]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG state: torch (CPU, CUDA, named generators) as tensors; python and numpy as JSON."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, st in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = st
    for name, gen in generators.items():
        tensors[f"gen_{name}"] = gen.get_state()
    py = random.getstate()
    np_state = np.random.get_state()
    meta = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    return tensors, meta


def restore_rng(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], generators: dict[str, torch.Generator]
) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        states = [tensors[f"torch_cuda_{i}"] for i in range(n) if f"torch_cuda_{i}" in tensors]
        if states:
            torch.cuda.set_rng_state_all(states)
    for name, gen in generators.items():
        key = f"gen_{name}"
        if key not in tensors:
            raise ValueError(f"checkpoint has no state for generator {name!r}; it has {sorted(tensors)}")
        gen.set_state(tensors[key])
    v, internal, gauss = meta["python"]
    random.setstate((v, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(
    ckpt_root: str | os.PathLike,
    iteration: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedulers: dict[str, Any],
    generators: dict[str, torch.Generator],
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write checkpoint `iter_{iteration:06d}` atomically under `ckpt_root`; keep the newest `keep`."""
    root = Path(ckpt_root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"iter_{iteration:06d}"
    with atomic_dir(final) as tmp:
        save_file(_contiguous(trainable_state(model)), str(tmp / "weights.safetensors"))
        opt_tensors, opt_meta = _optimizer_split(optimizer)
        save_file(_contiguous(opt_tensors), str(tmp / "optimizer.safetensors"))
        rng_tensors, rng_meta = capture_rng(generators)
        save_file(_contiguous(rng_tensors), str(tmp / "rng.safetensors"))
        state = {
            "iteration": iteration,
            "optimizer": opt_meta,
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
            "rng": rng_meta,
            "extra": extra or {},
        }
        (tmp / "state.json").write_text(json.dumps(state))
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(ckpt_root: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (state.json present), oldest first."""
    root = Path(ckpt_root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if CKPT_RE.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(ckpt_root: str | os.PathLike) -> Path | None:
    found = list_checkpoints(ckpt_root)
    return found[-1] if found else None


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedulers: dict[str, Any],
    generators: dict[str, torch.Generator],
) -> dict[str, Any]:
    """Restore everything `save_checkpoint` wrote, in place; returns {'iteration', 'extra'}."""
    path = Path(path)
    if not (path / "state.json").is_file():
        raise ValueError(f"checkpoint {path} is incomplete: no state.json")
    state = json.loads((path / "state.json").read_text())
    weights = load_file(str(path / "weights.safetensors"))
    params = trainable_state(model)
    if set(weights) != set(params):
        missing, unexpected = sorted(set(params) - set(weights)), sorted(set(weights) - set(params))
        raise ValueError(
            f"checkpoint {path} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name].to(p.device, p.dtype))
    opt_tensors = load_file(str(path / "optimizer.safetensors"))
    optimizer.load_state_dict(_optimizer_join(opt_tensors, state["optimizer"]))
    for key, sched in schedulers.items():
        sched.load_state_dict(state["schedulers"][key])
    restore_rng(load_file(str(path / "rng.safetensors")), state["rng"], generators)
    return {"iteration": int(state["iteration"]), "extra": state["extra"]}
