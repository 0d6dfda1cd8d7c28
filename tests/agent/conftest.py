"""Fixtures for agent tests: one tiny tokenizer and model on household text, built once per session."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def household_tokenizer():
    from hiper_repro.agent.tokenizer import train_word_tokenizer
    from hiper_repro.envs import vocabulary

    return train_word_tokenizer(vocabulary("household"))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, household_tokenizer):
    """Folder of a saved tiny-xs base model (random init, seed 0)."""
    from hiper_repro.agent.models import build_tiny_model, save_model

    out = tmp_path_factory.mktemp("base") / "tiny-xs"
    save_model(build_tiny_model("tiny-xs", household_tokenizer, 0), household_tokenizer, out)
    return out


def _randomize_heads(policy, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.heads.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.fixture
def randomize_heads():
    """Give the (zero-initialised) value heads random weights so value tests see distinct numbers."""
    return _randomize_heads
