"""The training loop, top to bottom (CleanRL's ppo.py order): setup, seeding, resume, then per iteration
sample tasks -> rollout -> credit -> re-score -> epochs x minibatches -> log -> evaluate -> trace -> checkpoint.

Run folder `out/`: config.yaml (resolved), run.json (provenance, sizes, resumes, peak RSS), train.log,
metrics.csv, tensorboard/, traces.nc, checkpoints/iter_NNNNNN/, and `done` written last.

Fault injection for tests: the environment variable HIPER_REPRO_FAIL_AT="ITER:PHASE" raises inside
iteration ITER at PHASE ('rollout': before sampling, 'update': after credit, before the update,
'trace': after traces are flushed, before the checkpoint). It is not part of the config on purpose:
a rerun without it must resolve to the same config as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from pathlib import Path
from typing import Any

import torch

from hiper_repro.envs.tasks import task_horizon
from hiper_repro.io import write_atomic
from hiper_repro.train.checkpoint import load_checkpoint, save_checkpoint
from hiper_repro.train.config import TrainConfig, save_config
from hiper_repro.train.methods import assign_credit
from hiper_repro.train.metrics import MetricsLog
from hiper_repro.train.records import concat_records, evaluation_record, rollout_summary, trace_records
from hiper_repro.train.resume import resume_point
from hiper_repro.train.setup import (
    build_optimizer,
    build_policy,
    generator,
    iteration_tasks,
    load_splits,
    make_accelerator,
    model_path,
    seed_everything,
)
from hiper_repro.train.update import LossConfig, TurnScorer, ppo_update, prepare_batch

FAIL_ENV = "HIPER_REPRO_FAIL_AT"
log = logging.getLogger("hiper_repro.train")


class InjectedFailure(RuntimeError):
    """Raised by HIPER_REPRO_FAIL_AT (tests of resume)."""


def _maybe_fail(iteration: int, phase: str) -> None:
    spec = os.environ.get(FAIL_ENV, "")
    if spec and spec == f"{iteration}:{phase}":
        raise InjectedFailure(f"{FAIL_ENV}={spec}: injected failure in iteration {iteration}, phase {phase}")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _file_handler(out: Path) -> logging.Handler | None:
    """`out/train.log` for the main process (RANK 0 under torchrun / accelerate launch), else None."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


def _gather(accelerator: Any, obj: Any) -> list[Any]:
    """Objects from every process, in rank order (one process: [obj])."""
    if accelerator.num_processes == 1:
        return [obj]
    from accelerate.utils import gather_object

    return gather_object([obj])


def evaluate(
    policy: Any, pool: Any, tasks: list[Any], cfg: TrainConfig, gen_cfg: Any, gen: torch.Generator
) -> dict:
    """Play the fixed eval tasks (this process's share) at the eval temperature; one record."""
    from hiper_repro.agent.rollout import rollout

    parts = []
    for s in range(0, len(tasks), pool.n):  # the pool bounds how many episodes step together
        ro = rollout(policy, policy.tokenizer, pool, tasks[s : s + pool.n], cfg.format, gen_cfg, gen)
        parts.append(evaluation_record(ro, cfg.format))
    return concat_records("evaluation", parts) if parts else {}


def train(cfg: TrainConfig, out_dir: str | os.PathLike) -> Path:
    """Train one run into `out_dir`, resuming from its latest checkpoint if there is one."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    handler = _file_handler(out)
    if handler is not None:
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        return _train(cfg, out)
    except BaseException:
        log.exception("training stopped by an error; rerun with the same --out to resume")
        raise
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def save_final_policy(policy: Any, cfg: TrainConfig, folder: Path, world: int) -> None:
    """The trained policy as a policy folder `hiper-repro evaluate --model` loads (safetensors).

    Full fine-tuning saves the weights; LoRA saves only the adapters, pointing at the starting model.
    Under FSDP with several processes the weights are sharded: the checkpoints hold them, not this folder.
    """
    if cfg.run.distributed == "fsdp" and world > 1:
        log.info("FSDP run: the final weights are in checkpoints/, no policy/ folder is written")
        return
    base = str(Path(model_path(cfg)).resolve()) if policy.is_lora else None
    policy.save(folder, base_path=base)


def _train(cfg: TrainConfig, out: Path) -> Path:
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.rollout import rollout
    from hiper_repro.envs import EnvPool
    from hiper_repro.traces import TraceWriter, make_provenance

    # ---- accelerate and sizes ---------------------------------------------------------------------------
    accelerator = make_accelerator(cfg, out)
    rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    sizes = cfg.derived(world)

    # ---- seeding: the weight seed is shared by all processes (identical initial weights); sampling
    #      seeds are offset by rank and derived per iteration (setup.derived_seed).
    seed_everything(cfg.run.seed)

    # ---- tasks, policy, optimizer --------------------------------------------------------------------
    train_tasks, eval_tasks = load_splits(cfg)
    eval_mine = eval_tasks[rank::world]
    policy = build_policy(cfg, accelerator.device)
    optimizer, scheduler = build_optimizer(policy, cfg)
    scorer, optimizer = accelerator.prepare(TurnScorer(policy), optimizer)
    base_optimizer = getattr(optimizer, "optimizer", optimizer)
    pool = EnvPool(cfg.env.name, max(sizes["episodes_per_process"], 1))
    max_turns = cfg.rollout.max_turns or None
    gen_train = GenerationConfig(
        cfg.rollout.max_new_tokens, cfg.rollout.temperature, cfg.env.history_length, max_turns
    )
    gen_eval = GenerationConfig(
        cfg.rollout.max_new_tokens, cfg.rollout.eval_temperature, cfg.env.history_length, max_turns
    )
    loss_cfg = LossConfig(
        clip=cfg.ppo.clip,
        kl_coef=cfg.ppo.kl_coef,
        entropy_coef=cfg.ppo.entropy_coef,
        value_coef=cfg.ppo.value_coef,
        value_clip=cfg.ppo.value_clip,
        train_policy=True,
    )

    # ---- resume: from the newest checkpoint whose iterations traces.nc and metrics.csv still hold --------
    #      (train/resume.py; the CLI has already refused a folder trained under another config)
    start = 0
    ckpt = resume_point(out, cfg, prune=main)
    if ckpt is not None:
        info = load_checkpoint(ckpt, policy, base_optimizer, {"lr": scheduler}, {})
        start = info["iteration"] + 1
    writer = metrics = None
    if main:
        attrs = make_provenance(
            config=cfg.to_dict(),
            method=cfg.method.name,
            env=cfg.env.name,
            horizon=task_horizon(train_tasks),  # the tasks' own label (load_splits checked the config's)
            seed=cfg.run.seed,
            model_id=model_path(cfg),
            device=f"{accelerator.device.type}x{world}",
        )
        traces = out / "traces.nc"
        if start > 0:
            writer = TraceWriter.resume(traces, upto_iteration=start - 1, keep_every=cfg.run.trace_every)
            # the original start's provenance stays; the config is the one the run now continues under
            writer.attrs |= {k: attrs[k] for k in ("config", "config_hash")}
        else:
            writer = TraceWriter(traces, attrs, keep_every=cfg.run.trace_every, overwrite=True)
        save_config(cfg, out / "config.yaml")
        run_json = out / "run.json"
        run_info = (
            json.loads(run_json.read_text()) if start > 0 and run_json.is_file() else {"provenance": attrs}
        )
        run_info |= {"sizes": sizes, "processes": world, "device": str(accelerator.device)}
        run_info.setdefault("starts", []).append({"iteration": start, "time": time.time()})
        write_atomic(run_json, json.dumps(run_info, indent=1))
        flat_cfg = {f"{k}.{kk}": vv for k, v in cfg.to_dict().items() for kk, vv in v.items()}
        accelerator.init_trackers("tensorboard", config={k: v for k, v in flat_cfg.items() if v != ""})
        metrics = MetricsLog(out / "metrics.csv", tracker=accelerator, resume_from=start)
        log.info(
            "run %s: method=%s start=%d/%d processes=%d",
            out,
            cfg.method.name,
            start,
            cfg.run.iterations,
            world,
        )

    from tqdm.auto import tqdm

    bar = tqdm(
        total=cfg.run.iterations,
        initial=start,
        disable=not (main and cfg.run.progress),
        desc=f"{cfg.method.name} s{cfg.run.seed}",
        unit="it",
    )
    try:
        last = cfg.run.iterations - 1
        for it in range(start, cfg.run.iterations):
            times: dict[str, float] = {}
            # ---- rollout: tasks from (seed, iteration); sampling from (seed, iteration, rank) ----------------
            _maybe_fail(it, "rollout")
            t0 = time.perf_counter()
            tasks, groups = iteration_tasks(train_tasks, cfg, it, rank, world)
            ro = rollout(
                policy,
                policy.tokenizer,
                pool,
                tasks,
                cfg.format,
                gen_train,
                generator(cfg.run.seed, it, rank, "rollout"),
                groups,
            )
            times["time_rollout"] = time.perf_counter() - t0

            # ---- credit: shaping, advantages per block, value targets; re-score old and reference log-probs --
            t0 = time.perf_counter()
            credit = assign_credit(ro, cfg)
            batch = prepare_batch(policy, ro.turns, credit, cfg.ppo.kl_coef)
            skipped = all(_gather(accelerator, credit.policy_skipped))  # every process must agree
            times["time_credit"] = time.perf_counter() - t0

            # ---- update: epochs x minibatches of PPO-clip + KL + entropy + clipped value losses --------------
            _maybe_fail(it, "update")
            t0 = time.perf_counter()
            loss_cfg.train_policy = not skipped
            stats = ppo_update(
                accelerator,
                scorer,
                optimizer,
                batch,
                loss_cfg,
                cfg.ppo.epochs,
                cfg.ppo.minibatch_turns,
                cfg.ppo.max_grad_norm,
                generator(cfg.run.seed, it, rank, "minibatch"),
                cfg.ppo.microbatch_turns,
            )
            scheduler.step()
            keys = sorted(stats)
            if world > 1:  # per-process partial means -> global means
                vec = accelerator.reduce(
                    torch.tensor([stats[k] for k in keys], device=accelerator.device), "mean"
                )
                stats = dict(zip(keys, vec.tolist()))
            times["time_update"] = time.perf_counter() - t0

            # ---- evaluation on the fixed split every K iterations and at the end ----------------------------
            t0 = time.perf_counter()
            evaluation = None
            if (cfg.run.eval_every and (it + 1) % cfg.run.eval_every == 0) or it == last:
                part = evaluate(
                    policy, pool, eval_mine, cfg, gen_eval, generator(cfg.run.seed, it, rank, "eval")
                )
                evaluation = concat_records("evaluation", [p for p in _gather(accelerator, part) if p])
            times["time_eval"] = time.perf_counter() - t0

            # ---- log and trace (main process), then checkpoint ----------------------------------------------
            t0 = time.perf_counter()
            rec = trace_records(ro, credit, cfg.has_critic)
            gathered = _gather(accelerator, (rec, ro.n_generated_tokens))
            if main:
                rec = {
                    g: concat_records(g, [r[g] for r, _ in gathered])
                    for g in ("turns", "segments", "episodes")
                }
                writer.add_iteration(it, **rec)
                if evaluation is not None:
                    writer.add_evaluation(it, evaluation)
                writer.flush()
                row = {"iteration": it, **rollout_summary(rec, cfg.format), **stats, **times}
                row["policy_skipped"] = int(skipped)
                row["lr"] = scheduler.get_last_lr()[0]
                row["tokens_per_s"] = sum(n for _, n in gathered) / max(times["time_rollout"], 1e-9)
                if evaluation is not None:
                    row |= {
                        f"eval_{k}": float(evaluation[k].mean())
                        for k in ("success", "score", "length", "invalid_rate")
                    }
                row["time_trace"] = time.perf_counter() - t0
                metrics.log(row)
                _maybe_fail(it, "trace")
                if (it + 1) % cfg.run.checkpoint_every == 0 or it == last:
                    ckpt_root = out / "checkpoints"
                    save_checkpoint(
                        ckpt_root,
                        it,
                        policy,
                        base_optimizer,
                        {"lr": scheduler},
                        {},
                        keep=cfg.run.keep_checkpoints,
                    )
                log.info(
                    "iteration %d: %s",
                    it,
                    json.dumps({k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in row.items()}),
                )
                bar.set_postfix(
                    success=f"{row['success']:.2f}", eval=f"{row.get('eval_success', float('nan')):.2f}"
                )
            accelerator.wait_for_everyone()
            bar.update(1)
    finally:
        bar.close()
        pool.close()

    # ---- the end: final policy, run summary, trackers closed, and the `done` marker written last ----------
    if main:
        save_final_policy(policy, cfg, out / "policy", world)
        run_info = json.loads((out / "run.json").read_text())
        run_info["peak_rss_mb"] = peak_rss_mb()
        write_atomic(out / "run.json", json.dumps(run_info, indent=1))
    accelerator.wait_for_everyone()
    accelerator.end_training()  # every process: flushes trackers and ends the process group
    if main:
        finished = {"iterations": cfg.run.iterations, "finished": time.time()}
        write_atomic(out / "done", json.dumps(finished) + "\n")
    return out
