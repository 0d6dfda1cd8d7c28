"""`agent.last_layer.hidden_at`: the last layer computed only where it is read equals the full pass."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from hiper_repro.agent.flops import FlopCounter
from hiper_repro.agent.last_layer import hidden_at, supports

SIZES = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}


def _model(kind: str, kv_heads: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "llama":
        cfg = LlamaConfig(vocab_size=50, num_key_value_heads=kv_heads, **SIZES)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = Qwen2Config(vocab_size=50, num_key_value_heads=kv_heads, **SIZES)
        model = Qwen2ForCausalLM(cfg)
    return model.eval()


def _batch(lengths: list[int], window: int) -> tuple[torch.Tensor, ...]:
    """Right-padded ids, mask, padding-aware positions and a `keep` window ending at each row's end."""
    g = torch.Generator().manual_seed(1)
    width = max(lengths)
    ids = torch.randint(1, 50, (len(lengths), width), generator=g)
    attn = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    ends = torch.tensor(lengths) - 1
    keep = torch.minimum(ends[:, None] - window + 1 + torch.arange(window + 2)[None, :], ends[:, None])
    return ids, attn, pos, keep.clamp(min=0)


def _full(model, ids, attn, pos, keep):
    h = model.get_decoder()(input_ids=ids, attention_mask=attn, position_ids=pos).last_hidden_state
    return torch.gather(h, 1, keep[..., None].expand(-1, -1, h.shape[-1]))


@pytest.mark.parametrize(("kind", "kv_heads"), [("llama", 4), ("llama", 2), ("qwen2", 4)])
def test_equals_the_full_pass_and_its_gradients(kind, kv_heads):
    model = _model(kind, kv_heads)
    assert supports(model)
    ids, attn, pos, keep = _batch([9, 14, 6], window=4)
    real = torch.gather(attn, 1, keep).bool()
    full = _full(model, ids, attn, pos, keep)
    part = hidden_at(model, ids, attn, pos, keep)
    torch.testing.assert_close(part[real], full[real], rtol=1e-5, atol=1e-6)
    grads = []
    for fn in (_full, hidden_at):
        model.zero_grad()
        (fn(model, ids, attn, pos, keep)[real] ** 2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[0].items():  # float32 sums in another order: equal to ~1e-5 of the gradient
        assert (grads[1][name] - g).norm() <= 1e-4 * g.norm(), name
    # the layers are restored after the pass
    assert len(model.get_decoder().layers) == 2 and not isinstance(
        model.get_decoder().norm, torch.nn.Identity
    )


def test_unsupported_models_compute_the_whole_sequence():
    model = _model("llama")
    model.config.use_sliding_window = True  # an attention pattern this module does not reproduce
    assert not supports(model)
    ids, attn, pos, keep = _batch([7, 5], window=3)
    torch.testing.assert_close(hidden_at(model, ids, attn, pos, keep), _full(model, ids, attn, pos, keep))


def test_flops_skip_the_last_layers_unread_positions():
    from hiper_repro.agent.flops import count_forward, count_forward_at

    model = _model("llama")
    _, attn, _, keep = _batch([40, 40], window=4)
    with FlopCounter() as counter, torch.no_grad():
        count_forward(model, attn, attn.shape[1])
        full = counter.take()
        count_forward_at(model, attn, keep)
        part = counter.take()
    assert part["tokens"] == full["tokens"] == 80
    # layer 2 of 2 keeps its keys and values everywhere, the rest at 6 of 40 positions
    assert 0.4 * full["gflop"] < part["gflop"] < 0.75 * full["gflop"]
