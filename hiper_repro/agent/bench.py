"""Rollout benchmark (``hiper-repro bench rollout``): batched rollout vs one episode at a time.

Same tiny model, same process, same household tasks and turn cap: (a) :func:`rollout` with every
episode generating together through the KV-cache loop, (b) a loop over episodes that calls HF
``generate`` (KV cache, batch 1) per turn and steps one environment. Throughput is generated tokens per
second of wall time, environment steps and parsing included on both sides. With ``--smollm2`` it also
measures SmolLM2-135M-Instruct (dequantised Q4_1 weights) generation at batch 1 and 16.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from hiper_repro.agent.formats import STOP_STRING
from hiper_repro.agent.generation import GenerationConfig, generate
from hiper_repro.agent.parser import parse_response
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.agent.prompts import PromptState, cut_history, encode_prompt
from hiper_repro.agent.rollout import rollout
from hiper_repro.cli_help import DefaultsFormatter


def sequential_generate_tokens(policy: Policy, tasks: list, cfg: GenerationConfig, seed: int) -> int:
    """Play ``tasks`` one at a time with HF ``generate`` per turn; returns tokens generated."""
    from hiper_repro.envs import make_env

    tok = policy.tokenizer
    stop = [policy.eos_id, tok.convert_tokens_to_ids(STOP_STRING)]
    model = policy._base()
    env = make_env(tasks[0].env)
    torch.manual_seed(seed)
    n_tokens = 0
    for task in tasks:
        obs = env.reset(task)
        history: list[tuple[str, str]] = []
        subgoal = None
        for t in range(min(env.max_steps, cfg.max_turns or env.max_steps)):
            state = PromptState(
                task.instruction,
                t,
                cut_history(history, cfg.history_length),
                obs.text,
                tuple(obs.admissible),
                subgoal,
            )
            ids = torch.tensor([encode_prompt(state, policy.config.fmt, tok)])
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=cfg.max_new_tokens,
                do_sample=cfg.temperature > 0,
                temperature=cfg.temperature or None,
                top_k=None,
                top_p=None,
                eos_token_id=stop,
                pad_token_id=policy.pad_id,
            )
            response = out[0, ids.shape[1] :]
            n_tokens += len(response)
            parsed = parse_response(
                tok.decode(response.tolist(), skip_special_tokens=True), policy.config.fmt, obs.admissible
            )
            subgoal = parsed.subgoal or subgoal
            action = parsed.action or ""
            history.append((obs.text, action))
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    env.close()
    return n_tokens


def bench_rollout(
    model_dir: str | None, n_episodes: int, max_turns: int, max_new_tokens: int, seed: int
) -> dict:
    """Tokens/s of batched rollout and of the sequential ``generate`` loop; see the module docstring."""
    from hiper_repro.envs import EnvPool, make_tasks

    if model_dir is None:
        from hiper_repro.agent.models import build_tiny_model
        from hiper_repro.agent.tokenizer import train_word_tokenizer
        from hiper_repro.envs import vocabulary

        tokenizer = train_word_tokenizer(vocabulary("household"))
        policy = Policy(build_tiny_model("tiny-xs", tokenizer, seed), tokenizer, PolicyConfig())
    else:
        policy = Policy.load(model_dir)
    policy.eval()
    tasks = make_tasks("household", 1, "train", n_episodes, seed)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=1.0, max_turns=max_turns)
    with EnvPool("household", n_episodes) as pool:
        # One warm-up turn: the first forward pays one-off costs the sequential side (run second) never sees.
        warm = dataclasses.replace(cfg, max_turns=1)
        rollout(
            policy,
            policy.tokenizer,
            pool,
            tasks,
            policy.config.fmt,
            warm,
            torch.Generator().manual_seed(seed),
        )
        start = time.perf_counter()
        ro = rollout(
            policy, policy.tokenizer, pool, tasks, policy.config.fmt, cfg, torch.Generator().manual_seed(seed)
        )
        batched_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        seq_tokens = sequential_generate_tokens(policy, tasks, cfg, seed)
    seq_s = time.perf_counter() - start
    batched = ro.n_generated_tokens / batched_s
    sequential = seq_tokens / seq_s
    return {
        "model": model_dir or "tiny-xs (random init)",
        "episodes": n_episodes,
        "max_turns": max_turns,
        "batched_tokens": ro.n_generated_tokens,
        "batched_s": batched_s,
        "batched_tok_per_s": batched,
        "sequential_tokens": seq_tokens,
        "sequential_s": seq_s,
        "sequential_tok_per_s": sequential,
        "speedup": batched / sequential,
        "torch_threads": torch.get_num_threads(),
    }


def bench_smollm2(cache_dir: str, max_new_tokens: int = 32, batches: tuple[int, ...] = (1, 16)) -> dict:
    """SmolLM2-135M generation tokens/s at each batch size (no stop: every row makes max_new_tokens)."""
    from hiper_repro.agent.models import load_model

    model, tokenizer = load_model("smollm2-135m", cache_dir)
    policy = Policy(model, tokenizer, PolicyConfig()).eval()
    state = PromptState(
        "put a clean apple in the fridge.",
        0,
        (),
        "You are in the kitchen.",
        ("go to fridge 1", "take apple 1"),
        None,
    )
    prompt = encode_prompt(state, "plan_execute", tokenizer)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=1.0)
    out = {"model": "SmolLM2-135M-Instruct (dequantised Q4_1 weights)", "prompt_tokens": len(prompt)}
    for b in batches:
        generate(policy, [prompt] * b, GenerationConfig(max_new_tokens=2))  # warm-up
        start = time.perf_counter()
        res = generate(policy, [prompt] * b, cfg, torch.Generator().manual_seed(0))
        out[f"batch{b}_tok_per_s"] = res.n_generated / (time.perf_counter() - start)
    return out


def main(argv: list[str]) -> int:
    """``hiper-repro bench rollout [--model DIR] [--episodes 64] [--smollm2 --cache-dir DIR] [--out f.json]``."""
    ap = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter,
        prog="hiper-repro bench rollout",
        description=__doc__.splitlines()[0],
    )
    ap.add_argument("--model", default=None, help="saved policy folder (default: random tiny-xs)")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--max-turns", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smollm2", action="store_true", help="also measure SmolLM2-135M at batch 1 and 16")
    ap.add_argument("--cache-dir", default="results/smollm2/models/cache", help="where SmolLM2 is converted")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    result = {
        "rollout": bench_rollout(args.model, args.episodes, args.max_turns, args.max_new_tokens, args.seed)
    }
    if args.smollm2:
        result["smollm2"] = bench_smollm2(args.cache_dir)
    print(json.dumps(result, indent=2))
    if args.out:
        from hiper_repro.agent.evaluate import write_json

        write_json(args.out, result)
    return 0
