"""The preallocated KV cache reproduces transformers' dynamic cache exactly, and only claims models it can."""

from __future__ import annotations

import pytest
import torch

from hiper_repro.agent import generation, kv_cache
from hiper_repro.agent.generation import GenerationConfig, generate
from hiper_repro.agent.models import build_tiny_model
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.agent.prompts import PromptState, encode_prompt

pytestmark = pytest.mark.skipif(kv_cache.Cache is None, reason="transformers lacks the layer-based cache API")


def _prompts(tokenizer) -> list[list[int]]:
    states = [
        PromptState(
            "put a clean apple in fridge 1.", 0, (), "You are in the kitchen.", ("go to fridge 1",), None
        ),
        PromptState(
            "heat some egg and put it in countertop 1.",
            3,
            (("You see a microwave 1.", "go to microwave 1"),),
            "You arrive at microwave 1.",
            ("open microwave 1", "look"),
            "heat the egg",
        ),
    ]
    return [encode_prompt(s, "plan_execute", tokenizer) for s in states]


@pytest.mark.parametrize("preset", ["tiny-xs", "tiny-qwen-s"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_identical_to_dynamic_cache(
    household_tokenizer, randomize_heads, monkeypatch, preset, temperature
):
    policy = Policy(
        build_tiny_model(preset, household_tokenizer, 3), household_tokenizer, PolicyConfig()
    ).eval()
    randomize_heads(policy)
    prompts = _prompts(household_tokenizer)
    # A small max_new_tokens still leaves rows of unequal length (left padding) and a stop mid-way.
    cfg = GenerationConfig(max_new_tokens=12, temperature=temperature)
    assert kv_cache.preallocated_cache(policy.lm, 8) is not None
    fast = generate(policy, prompts, cfg, torch.Generator().manual_seed(5))
    monkeypatch.setattr(generation, "preallocated_cache", lambda model, capacity: None)
    slow = generate(policy, prompts, cfg, torch.Generator().manual_seed(5))
    assert fast.n_generated == slow.n_generated
    for field in ("response_ids", "logprobs", "token_values", "switch_probs"):
        for a, b in zip(getattr(fast, field), getattr(slow, field)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(fast.prompt_values, slow.prompt_values, rtol=0, atol=0)


def test_layer_grows_past_its_capacity_and_keeps_contents():
    layer = kv_cache.PreallocatedLayer(capacity=2)
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(3, 2, n, 4, generator=g) for n in (1, 2, 1, 3)]
    for chunk in chunks:
        keys, values = layer.update(chunk, -chunk)
    expected = torch.cat(chunks, dim=2)
    assert layer.get_seq_length() == 7 and layer.capacity >= 7
    torch.testing.assert_close(keys, expected, rtol=0, atol=0)
    torch.testing.assert_close(values, -expected, rtol=0, atol=0)


def test_operations_it_cannot_honour_fail_clearly():
    layer = kv_cache.PreallocatedLayer(capacity=4)
    layer.update(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4))
    with pytest.raises(NotImplementedError, match="DynamicCache"):
        layer.crop(-1)
    with pytest.raises(NotImplementedError, match="DynamicCache"):
        layer.batch_select_indices(torch.tensor([0]))
    with pytest.raises(ValueError, match="capacity"):
        kv_cache.PreallocatedLayer(capacity=0)


def test_sliding_window_models_keep_their_own_cache(household_tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(household_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        use_sliding_window=True,
        sliding_window=8,
        max_window_layers=0,
    )
    model = Qwen2ForCausalLM(config)
    assert kv_cache.preallocated_cache(model, 16) is None
