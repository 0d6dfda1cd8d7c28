"""Checkpoint round trip: weights, optimizer, scheduler and every RNG come back exactly."""

import random

import numpy as np
import pytest
import torch

from hiper_repro.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint


def _setup(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model[0].bias.requires_grad_(False)  # frozen parameters are not saved
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 3))
    return model, opt, sched


def _steps(model, opt, sched, gen, n):
    out = []
    for _ in range(n):
        x = torch.randn(5, 4, generator=gen)
        loss = model(x).pow(2).mean() + torch.rand(()) * 0
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out.append((loss.item(), random.random(), np.random.rand(), torch.rand(()).item()))
    return out


def test_resume_continues_identically(tmp_path):
    model, opt, sched = _setup(0)
    gen = torch.Generator().manual_seed(1)
    _steps(model, opt, sched, gen, 3)
    save_checkpoint(tmp_path, 3, model, opt, {"lr": sched}, {"rollout": gen}, extra={"k": 1})
    expected = _steps(model, opt, sched, gen, 3)

    model2, opt2, sched2 = _setup(0)  # frozen weights come from the base model, as in a real resume
    with torch.no_grad():
        model2[2].weight.add_(1.0)
    gen2 = torch.Generator().manual_seed(5)
    info = load_checkpoint(latest_checkpoint(tmp_path), model2, opt2, {"lr": sched2}, {"rollout": gen2})
    assert info == {"iteration": 3, "extra": {"k": 1}}
    assert _steps(model2, opt2, sched2, gen2, 3) == expected


def test_keep_latest_and_ignore_partial(tmp_path):
    model, opt, sched = _setup(0)
    gen = torch.Generator()
    for it in (1, 2, 3):
        save_checkpoint(tmp_path, it, model, opt, {"lr": sched}, {"g": gen}, keep=2)
    (tmp_path / "iter_000009").mkdir()  # no state.json: an interrupted write is never picked
    assert [p.name for p in list_checkpoints(tmp_path)] == ["iter_000002", "iter_000003"]
    assert latest_checkpoint(tmp_path).name == "iter_000003"


def test_mismatched_model_rejected(tmp_path):
    model, opt, sched = _setup(0)
    save_checkpoint(tmp_path, 1, model, opt, {"lr": sched}, {})
    other = torch.nn.Linear(4, 1)
    with pytest.raises(ValueError, match="does not fit the model"):
        load_checkpoint(latest_checkpoint(tmp_path), other, torch.optim.AdamW(other.parameters()), {}, {})
