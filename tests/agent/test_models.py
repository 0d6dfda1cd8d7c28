"""Tiny models, tokenizer and policy: determinism, save/reload identity, LoRA reference, heads."""

from __future__ import annotations

import json

import pytest
import torch

from hiper_repro.agent.models import TINY_PRESETS, build_tiny_model, resolve_model, save_model
from hiper_repro.agent.parser import normalize_text
from hiper_repro.agent.policy import LoraSettings, Policy, PolicyConfig, default_heads


def _batch(tokenizer):
    texts = ["<switch>KEEP</switch> go to fridge 1", "task : cool egg 2 from diningtable 1 ."]
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    width = max(map(len, ids))
    x = torch.tensor([[tokenizer.pad_token_id] * (width - len(s)) + s for s in ids])
    return x, (x != tokenizer.pad_token_id).long()


class TestTokenizer:
    def test_tags_are_single_tokens(self, household_tokenizer):
        for tag in ("<switch>", "</subgoal>", "<action>", "</action>"):
            assert len(household_tokenizer.encode(tag, add_special_tokens=False)) == 1

    def test_actions_round_trip_after_normalisation(self, household_tokenizer):
        from hiper_repro.envs import make_env, make_tasks

        env = make_env("household")
        for task in make_tasks("household", 3, "train", 5, 0):
            obs = env.reset(task)
            for action in obs.admissible:
                ids = household_tokenizer.encode(action, add_special_tokens=False)
                assert household_tokenizer.unk_token_id not in ids, action
                assert normalize_text(household_tokenizer.decode(ids)) == normalize_text(action)

    def test_numbers_are_spelt_with_digits(self, household_tokenizer):
        ids = household_tokenizer.encode("step 1234", add_special_tokens=False)
        assert household_tokenizer.unk_token_id not in ids and len(ids) == 5


class TestTinyModels:
    @pytest.mark.parametrize("name", sorted(TINY_PRESETS))
    def test_same_seed_same_weights(self, name, household_tokenizer):
        a = build_tiny_model(name, household_tokenizer, 3)
        b = build_tiny_model(name, household_tokenizer, 3)
        c = build_tiny_model(name, household_tokenizer, 4)
        sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa)

    def test_save_reload_identical_outputs(self, tmp_path, household_tokenizer):
        from transformers import AutoModelForCausalLM

        from hiper_repro.agent.models import load_tokenizer

        model = build_tiny_model("tiny-qwen-s", household_tokenizer, 0)
        save_model(model, household_tokenizer, tmp_path / "m")
        again = AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
        tok = load_tokenizer(tmp_path / "m")
        x, m = _batch(household_tokenizer)
        assert torch.equal(_batch(tok)[0], x)
        with torch.no_grad():
            assert torch.equal(
                model(input_ids=x, attention_mask=m).logits, again(input_ids=x, attention_mask=m).logits
            )
        assert (tmp_path / "m" / "model.safetensors").is_file()

    def test_unknown_preset_is_a_clear_error(self, household_tokenizer):
        with pytest.raises(ValueError, match="tiny-xs"):
            build_tiny_model("tiny-huge", household_tokenizer, 0)
        with pytest.raises(ValueError, match="tiny preset"):
            resolve_model("tiny-s")


class TestPolicy:
    def test_heads_start_at_zero_and_shapes(self, tiny_base):
        policy = Policy.load(tiny_base, PolicyConfig(heads=("low", "high", "term"), head_hidden=8))
        x, m = _batch(policy.tokenizer)
        h, _ = policy.hidden(x, m)
        v = policy.values(h)
        assert v.shape == (*x.shape, 3) and torch.all(v == 0)
        assert policy.head_index("term") == 2 and policy.keep_id != policy.switch_id

    def test_save_load_round_trip(self, tmp_path, tiny_base, randomize_heads):
        policy = Policy.load(tiny_base, PolicyConfig(heads=("low", "high"), head_hidden=4, seed=1))
        randomize_heads(policy)
        policy.save(tmp_path / "p")
        again = Policy.load(tmp_path / "p")
        assert again.config == policy.config
        x, m = _batch(policy.tokenizer)
        with torch.no_grad():
            h1, h2 = policy.hidden(x, m)[0], again.hidden(x, m)[0]
            assert torch.equal(policy.values(h1), again.values(h2))
            assert torch.equal(policy.logits(h1), again.logits(h2))
        meta = json.loads((tmp_path / "p" / "agent.json").read_text())
        assert meta["policy"]["heads"] == ["low", "high"]
        assert not list(tmp_path.glob("**/*.bin")) and not list(tmp_path.glob("**/*.pt"))

    def test_config_mismatch_is_a_clear_error(self, tmp_path, tiny_base):
        Policy.load(tiny_base, PolicyConfig(fmt="flat", heads=("low",))).save(tmp_path / "p")
        with pytest.raises(ValueError, match="disagrees"):
            Policy.load(tmp_path / "p", PolicyConfig())
        with pytest.raises(ValueError, match="flat format uses heads"):
            PolicyConfig(fmt="flat", heads=("low", "high"))
        assert default_heads("plan_execute", term=True) == ("low", "high", "term")

    def test_lora_reference_is_the_adapter_free_model(self, tmp_path, tiny_base):
        plain = Policy.load(tiny_base, PolicyConfig())
        lora = Policy.load(tiny_base, PolicyConfig(lora=LoraSettings(rank=4)))
        # LoRA B starts at zero: move it so the adapted model differs from the base.
        with torch.no_grad():
            for name, p in lora.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)
        x, m = _batch(plain.tokenizer)
        with torch.no_grad():
            base_logits = plain.logits(plain.hidden(x, m)[0])
            adapted = lora.logits(lora.hidden(x, m)[0])
            with lora.reference_mode():
                ref = lora.logits(lora.hidden(x, m)[0])
        assert torch.allclose(ref, base_logits, atol=1e-5)
        assert not torch.allclose(adapted, base_logits, atol=1e-3)
        # Merged save: a plain model equal to the adapted one.
        lora.save(tmp_path / "merged", merge_lora=True)
        merged = Policy.load(tmp_path / "merged")
        assert not merged.is_lora and merged.config.lora is None
        with torch.no_grad():
            assert torch.allclose(merged.logits(merged.hidden(x, m)[0]), adapted, atol=1e-4)
        # Unmerged save needs the base path and reloads the adapters.
        with pytest.raises(ValueError, match="base_path"):
            lora.save(tmp_path / "adapter")
        lora.save(tmp_path / "adapter", base_path=str(tiny_base))
        again = Policy.load(tmp_path / "adapter")
        with torch.no_grad():
            assert again.is_lora and torch.allclose(again.logits(again.hidden(x, m)[0]), adapted, atol=1e-5)

    def test_full_finetune_reference_is_a_frozen_copy(self, tiny_base):
        policy = Policy.load(tiny_base, PolicyConfig())
        with pytest.raises(ValueError, match="attach_frozen_reference"), policy.reference_mode():
            pass
        policy.attach_frozen_reference()
        x, m = _batch(policy.tokenizer)
        with torch.no_grad():
            before = policy.logits(policy.hidden(x, m)[0])
            for p in policy.lm.parameters():
                p.add_(0.1)
            with policy.reference_mode():
                ref = policy.logits(policy.hidden(x, m)[0])
            after = policy.logits(policy.hidden(x, m)[0])
        assert torch.equal(ref, before) and not torch.allclose(after, before)
        assert not any(n.startswith("_reference") for n, _ in policy.named_parameters())
