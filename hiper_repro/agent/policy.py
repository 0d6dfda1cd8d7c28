"""The policy: an HF causal LM (optionally with LoRA adapters) plus small value heads on its hidden states.

Value heads read the final (post-norm) hidden state h of one token and return one number per head:

    heads "low"          V_low / flat V(s_t)                         (flat format: only this one)
    heads "low","high"   + V_high(s_t)                               (Plan-Execute, paper form)
    + "term"             + V_term(s_t, o_{t-1})                      (Plan-Execute, authors' code form)

Each head is ``Linear(H, 1)`` (``head_hidden=0``) or ``Linear(H, k) -> tanh -> Linear(k, 1)``; the last
layer starts at zero so every value starts at 0. The heads share the backbone: value-loss gradients reach
the LM unless the trainer detaches.

Reference policy for the KL term (``with policy.reference_mode(): ...``): with LoRA, the same model with
adapters disabled (no second copy); with full fine-tuning, a frozen copy made by
:meth:`Policy.attach_frozen_reference` (cheap for tiny models). Code calling the policy inside the
context never needs to know which.

Saved layout (``save``/``load``): an HF folder (safetensors weights, or ``adapter/`` plus the base path
for unmerged LoRA), the tokenizer, ``value_heads.safetensors`` and ``agent.json`` (format, heads, LoRA
settings). No pickle anywhere.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from hiper_repro.agent import last_layer
from hiper_repro.agent.flops import count_forward, count_forward_at, count_logits
from hiper_repro.agent.formats import KEEP, SWITCH, SWITCH_OPEN, check_format
from hiper_repro.agent.models import load_tokenizer
from hiper_repro.io import atomic_dir

HEAD_NAMES: tuple[str, ...] = ("low", "high", "term")
AGENT_JSON = "agent.json"
HEADS_FILE = "value_heads.safetensors"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings (peft)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"lora rank must be >= 1, got {self.rank}")
        if not self.target_modules:
            raise ValueError("lora target_modules must not be empty")


@dataclass(frozen=True)
class PolicyConfig:
    """What sits on top of the LM: response format, value heads, LoRA."""

    fmt: str = "plan_execute"  # "plan_execute" | "flat"
    heads: tuple[str, ...] = ("low", "high")  # subset of HEAD_NAMES, in that order; flat: ("low",)
    head_hidden: int = 0  # 0: linear heads; k > 0: one tanh layer of width k
    lora: LoraSettings | None = None  # None: full fine-tuning
    seed: int = 0  # initialises the heads (and LoRA A matrices)
    extra: dict = field(default_factory=dict)  # free-form notes saved in agent.json

    def __post_init__(self) -> None:
        check_format(self.fmt)
        heads = tuple(self.heads)
        if not heads or heads != tuple(h for h in HEAD_NAMES if h in heads) or "low" not in heads:
            raise ValueError(
                f"heads must be 'low' plus optional 'high', 'term' in that order, got {self.heads!r}"
            )
        if self.fmt == "flat" and heads != ("low",):
            raise ValueError(f"flat format uses heads ('low',), got {heads!r}")
        if self.head_hidden < 0:
            raise ValueError(f"head_hidden must be >= 0, got {self.head_hidden}")
        object.__setattr__(self, "heads", heads)

    def to_json(self) -> dict:
        d = asdict(self)
        d["heads"] = list(self.heads)
        if self.lora is not None:
            d["lora"]["target_modules"] = list(self.lora.target_modules)
        return d

    @classmethod
    def from_json(cls, d: dict) -> PolicyConfig:
        d = dict(d)
        lora = d.pop("lora", None)
        return cls(
            heads=tuple(d.pop("heads")),
            lora=None
            if lora is None
            else LoraSettings(**{**lora, "target_modules": tuple(lora["target_modules"])}),
            **d,
        )


def default_heads(fmt: str, term: bool = False) -> tuple[str, ...]:
    """Heads for a format: flat ("low",); Plan-Execute ("low", "high") or with "term"."""
    check_format(fmt)
    if fmt == "flat":
        return ("low",)
    return ("low", "high", "term") if term else ("low", "high")


class ValueHeads(nn.Module):
    """``n`` independent heads on hidden states: (..., H) -> (..., n)."""

    def __init__(self, hidden: int, n: int, head_hidden: int = 0):
        super().__init__()
        self.n, self.k = n, head_hidden
        if head_hidden:
            self.body = nn.Linear(hidden, n * head_hidden)
            # Head i reads only its own slice of the body: weight row i has k entries.
            self.out_weight = nn.Parameter(torch.zeros(n, head_hidden))
            self.out_bias = nn.Parameter(torch.zeros(n))
        else:
            self.out = nn.Linear(hidden, n)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h.float()
        if not self.k:
            return self.out(h)
        z = torch.tanh(self.body(h)).unflatten(-1, (self.n, self.k))
        return (z * self.out_weight).sum(-1) + self.out_bias


def _first_word_id(tokenizer: PreTrainedTokenizerBase, word: str) -> int:
    """Id of the first token of ``word`` when it follows the ``<switch>`` tag."""
    prefix = tokenizer.encode(SWITCH_OPEN, add_special_tokens=False)
    full = tokenizer.encode(SWITCH_OPEN + word, add_special_tokens=False)
    if full[: len(prefix)] != prefix or len(full) == len(prefix):
        full = prefix + tokenizer.encode(word, add_special_tokens=False)
    return int(full[len(prefix)])


class Policy(nn.Module):
    """HF causal LM (+ optional LoRA) with value heads; see the module docstring."""

    def __init__(self, lm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        if config.lora is not None and not _is_peft(lm):
            from peft import LoraConfig, get_peft_model

            lc = config.lora
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed + 1)
                lm = get_peft_model(
                    lm,
                    LoraConfig(
                        r=lc.rank,
                        lora_alpha=lc.alpha,
                        lora_dropout=lc.dropout,
                        target_modules=list(lc.target_modules),
                        task_type="CAUSAL_LM",
                    ),
                )
        self.lm = lm
        hidden = self._base().config.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.heads = ValueHeads(hidden, len(config.heads), config.head_hidden)
        self._reference: list[PreTrainedModel] = []  # a list keeps it out of parameters/state_dict
        # True: the heads read detached hidden states, so value losses train the heads and not the LM.
        self.detach_values = False
        self._use_reference = False
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.eos_id = int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else None
        self.keep_id = _first_word_id(tokenizer, KEEP)
        self.switch_id = _first_word_id(tokenizer, SWITCH)
        if self.keep_id == self.switch_id:
            raise ValueError("KEEP and SWITCH start with the same token; switch probabilities are undefined")

    # ----- model plumbing -------------------------------------------------------------------------
    def _base(self) -> PreTrainedModel:
        return self.lm.get_base_model() if _is_peft(self.lm) else self.lm

    @property
    def is_lora(self) -> bool:
        return _is_peft(self.lm)

    @property
    def device(self) -> torch.device:
        return next(self.heads.parameters()).device

    @property
    def hidden_size(self) -> int:
        """Width H of the hidden states the value heads read."""
        return int(self._base().config.hidden_size)

    def head_index(self, name: str) -> int | None:
        """Column of head ``name`` in :meth:`values` output, None if the policy has no such head."""
        return self.config.heads.index(name) if name in self.config.heads else None

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        cache=None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, object]:
        """Final hidden states (B, L, H) and the KV cache. Position ids default to padding-aware ones.

        ``attention_mask`` covers the cache and the new tokens; ``cache`` is what a previous call returned.
        """
        if position_ids is None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        model = self._reference[0] if self._use_reference else self._base()
        count_forward(model, attention_mask, input_ids.shape[1])  # no-op unless a FlopCounter is active
        decoder = model.get_decoder()
        kwargs = {} if cache is None else {last_layer.cache_kwarg(decoder): cache}
        out = decoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            **kwargs,
        )
        return out.last_hidden_state, last_layer.returned_cache(out, use_cache)

    def hidden_at(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        keep: torch.Tensor,
        cache=None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, object]:
        """Final hidden states (B, S, H) at positions ``keep`` (B, S) only, and the KV cache (None unless
        ``use_cache``): the last layer runs where it is read (`agent.last_layer`), the rest as in
        :meth:`hidden`. With ``use_cache`` (a prefill) ``cache`` is an empty cache to fill, or None for the
        model's own."""
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        model = self._reference[0] if self._use_reference else self._base()
        if last_layer.supports(model):
            count_forward_at(model, attention_mask, keep)
        else:
            count_forward(model, attention_mask, input_ids.shape[1])
        if use_cache and cache is None:
            from transformers import DynamicCache

            try:  # layers made up front, so the last one can be written after the others
                cache = DynamicCache(config=model.config)
            except TypeError:  # older transformers: layers appear as they are written, in order
                cache = DynamicCache()
        return last_layer.hidden_at(model, input_ids, attention_mask, position_ids, keep, cache=cache)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Next-token logits (float32) from hidden states (..., H)."""
        model = self._reference[0] if self._use_reference else self._base()
        count_logits(model, h.numel() // h.shape[-1])
        return model.get_output_embeddings()(h).float()

    def values(self, h: torch.Tensor) -> torch.Tensor:
        """Value heads on hidden states: (..., H) -> (..., n_heads), columns in ``config.heads`` order.

        With ``detach_values`` the heads see ``h`` detached (their gradients stop at the heads)."""
        return self.heads(h.detach() if self.detach_values else h)

    # ----- reference policy ----------------------------------------------------------------------
    def attach_frozen_reference(self) -> None:
        """Keep a frozen copy of the current LM as the reference (full fine-tuning only)."""
        if self.is_lora:
            raise ValueError("a LoRA policy's reference is the adapter-free model; no copy is needed")
        ref = copy.deepcopy(self._base()).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        self._reference[:] = [ref]

    @contextlib.contextmanager
    def reference_mode(self) -> Iterator[None]:
        """Inside, :meth:`hidden` and :meth:`logits` compute the reference policy (no grad needed)."""
        if self.is_lora:
            with self.lm.disable_adapter():
                yield
            return
        if not self._reference:
            raise ValueError("no reference policy: call attach_frozen_reference() first (full fine-tuning)")
        self._use_reference = True
        try:
            yield
        finally:
            self._use_reference = False

    # ----- persistence ---------------------------------------------------------------------------
    def save(self, out: str | Path, merge_lora: bool = False, base_path: str | None = None) -> Path:
        """Save into ``out`` atomically (layout in the module docstring).

        ``merge_lora=True`` folds the adapters into the weights and saves a plain model whose config
        says ``lora: null``: the reference of a later LoRA run on it is then this model. Unmerged LoRA
        saves only ``adapter/`` and needs ``base_path`` (the folder of the base model) to reload.
        """
        if self.is_lora and not merge_lora and base_path is None:
            raise ValueError("saving unmerged LoRA needs base_path (folder of the base model), got None")
        config = self.config
        with atomic_dir(out) as tmp:
            if self.is_lora and merge_lora:
                merged = copy.deepcopy(self.lm).merge_and_unload()
                merged.save_pretrained(tmp, safe_serialization=True)
                config = PolicyConfig(**{**asdict_shallow(config), "lora": None})
                meta = {"policy": config.to_json(), "base": None}
            elif self.is_lora:
                self.lm.save_pretrained(tmp / "adapter")
                meta = {"policy": config.to_json(), "base": str(base_path)}
            else:
                self.lm.save_pretrained(tmp, safe_serialization=True)
                meta = {"policy": config.to_json(), "base": None}
            self.tokenizer.save_pretrained(tmp)
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()},
                tmp / HEADS_FILE,
            )
            (tmp / AGENT_JSON).write_text(json.dumps(meta, indent=2))
        return Path(out)

    @classmethod
    def load(
        cls,
        path: str | Path,
        config: PolicyConfig | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> Policy:
        """Load a saved policy, or wrap a plain HF folder (base model) with fresh heads from ``config``.

        For a saved policy, ``config`` may be None (the saved one is used) or must agree on format and
        heads; its ``lora`` and ``seed`` apply when the saved policy has no adapters (a new LoRA run on a
        merged warm start). For a plain folder, ``config`` is required.
        """
        path = Path(path)
        meta_file = path / AGENT_JSON
        saved = json.loads(meta_file.read_text()) if meta_file.is_file() else None
        if saved is None and config is None:
            raise ValueError(f"{path} holds no {AGENT_JSON}; pass a PolicyConfig to wrap a base model")
        saved_cfg = PolicyConfig.from_json(saved["policy"]) if saved else None
        key = None if config is None else (config.fmt, config.heads, config.head_hidden)
        if (
            saved_cfg is not None
            and key is not None
            and key != (saved_cfg.fmt, saved_cfg.heads, saved_cfg.head_hidden)
        ):
            raise ValueError(
                f"config (fmt={config.fmt}, heads={config.heads}, head_hidden={config.head_hidden}) "
                f"disagrees with the saved policy at {path} (fmt={saved_cfg.fmt}, heads={saved_cfg.heads}, "
                f"head_hidden={saved_cfg.head_hidden})"
            )
        cfg = config or saved_cfg
        tokenizer = load_tokenizer(path)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if saved is not None and saved.get("base"):
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(saved["base"], dtype=dtype)
            lm = PeftModel.from_pretrained(base, path / "adapter", is_trainable=True)
            cfg = saved_cfg
        else:
            lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        policy = cls(lm, tokenizer, cfg)
        if saved is not None and (path / HEADS_FILE).is_file():
            policy.heads.load_state_dict(load_file(path / HEADS_FILE))
        return policy.to(device).eval()


def asdict_shallow(config: PolicyConfig) -> dict:
    """Field values of a PolicyConfig without recursing into LoraSettings."""
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def _is_peft(model: nn.Module) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "get_base_model")


def count_parameters(policy: Policy, trainable: bool = True) -> int:
    """Number of (trainable) parameters, heads included."""
    return sum(p.numel() for p in policy.parameters() if p.requires_grad or not trainable)


__all__ = [
    "HEAD_NAMES",
    "LoraSettings",
    "Policy",
    "PolicyConfig",
    "ValueHeads",
    "count_parameters",
    "default_heads",
]
