"""The training loop, top to bottom (CleanRL's ppo.py order): setup, seeding, resume, the starting policy's
evaluation, then per iteration sample tasks -> rollout -> critic values -> credit -> re-score -> epochs x
minibatches -> log -> evaluate -> trace -> checkpoint.

Evaluation (`agent.evaluate.play_tasks`, the package's one evaluation path) plays the fixed split before the
first update, every `run.eval_every` iterations and at the end, labelled by the updates completed
(`eval_iteration` 0: the start, 15: after 15 updates), at the training temperature and with common random
numbers (each task's sampling noise is fixed by `run.eval_seed` and its id), so a change from the start is a
paired comparison; with `run.secondary_eval` the start and the end are also played at `rollout.eval_temperature`.

Run folder `out/`: config.yaml (resolved), run.json (provenance, sizes, resumes, peak RSS), train.log,
metrics.csv (its first row, iteration -1, the starting policy's evaluation; then a row per iteration),
tensorboard/ and wandb/ (the trackers of `run.trackers`), traces.nc (rewritten whole, so written at each
checkpoint and at the end: a resume starts from a checkpoint, whose iterations it then holds),
checkpoints/iter_NNNNNN/, policy/, and `done` written last; then one summary line on stdout
(`metrics.run_summary`), with or without the progress bar.

Fault injection for tests: the environment variable HIPER_REPRO_FAIL_AT="ITER:PHASE" raises inside
iteration ITER at PHASE ('rollout': before sampling, 'update': after credit, before the update,
'trace': after the metrics row is logged (and, in a checkpoint iteration, the traces flushed), before the
checkpoint). It is not part of the config on purpose:
a rerun without it must resolve to the same config as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hiper_repro.agent.flops import take_active
from hiper_repro.envs.tasks import task_horizon
from hiper_repro.io import write_atomic
from hiper_repro.train.checkpoint import load_checkpoint, save_checkpoint
from hiper_repro.train.config import TrainConfig, save_config
from hiper_repro.train.methods import assign_credit
from hiper_repro.train.metrics import START, MetricsLog, evaluation_columns, run_summary
from hiper_repro.train.records import (
    concat_records,
    diagnostics,
    evaluation_record,
    rollout_summary,
    trace_records,
)
from hiper_repro.train.resume import resume_point
from hiper_repro.train.setup import (
    build_critic,
    build_optimizer,
    build_policy,
    generator,
    iteration_tasks,
    load_splits,
    make_accelerator,
    model_path,
    seed_everything,
)
from hiper_repro.train.update import VALUE_SLOTS, TurnScorer, fit_critic, ppo_update, prepare_batch

if TYPE_CHECKING:
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.policy import Policy
    from hiper_repro.agent.rollout import Rollout
    from hiper_repro.envs import EnvPool, Task

FAIL_ENV = "HIPER_REPRO_FAIL_AT"
EXPLAINED_VARIANCE = ("explained_variance_low", "explained_variance_high", "explained_variance_term")
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


def _turn_limits(cfg: TrainConfig, tasks: list[Task]) -> dict[str, int] | None:
    """Per-task turn caps at `rollout.max_turns_expert_ratio` x the expert's path (None: off)."""
    if not cfg.rollout.max_turns_expert_ratio:
        return None
    from hiper_repro.envs import expert_turn_limits, make_env

    env = make_env(cfg.env.name)
    try:
        return expert_turn_limits(env, tasks, cfg.rollout.max_turns_expert_ratio)
    finally:
        env.close()


def critic_values(rollout: Rollout, scorer: TurnScorer) -> None:
    """Overwrite the rollout's values with the separate critic's (same positions; no grad)."""
    from hiper_repro.agent.scoring import score_values

    with torch.no_grad():
        values = score_values(scorer.critic, rollout.turns, scorer.critic.pad_id)
    b = torch.tensor([tt.b for tt in rollout.turns])
    t = torch.tensor([tt.t for tt in rollout.turns])
    for name in VALUE_SLOTS:
        field = getattr(rollout, f"value_{name}")
        field[b, t] = values[f"value_{name}"].float().cpu()


def _pool_diagnostics(parts: list[dict[str, Any]], update: dict[str, float]) -> dict[str, Any]:
    """One `/iterations` record from every process's diagnostics: turn-weighted means of the batch
    statistics, the update's cross-process means (`update`) for its own quantities."""
    weights = np.array([p["turns"] for p in parts], dtype=float)
    out: dict[str, Any] = {"turns": int(weights.sum()), "policy_updated": bool(parts[0]["policy_updated"])}
    for key in ("success", "invalid_turn_rate", "adv_switch_abs", "adv_action_std", *EXPLAINED_VARIANCE):
        out[key] = _weighted([p[key] for p in parts], weights)
    for key in ("kl_ref", "approx_kl", "clip_fraction", "entropy", "grad_norm"):  # the metrics' names
        out[key] = float(update.get(key, float("nan")))
    out["optimizer_steps"] = int(update.get("optimizer_steps", 0))
    return out


def _weighted(values: list[float], weights: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (weights > 0)
    return float(np.average(v[ok], weights=weights[ok])) if ok.any() else float("nan")


def _count_flops(row: dict[str, float], phase: str) -> None:
    """Add `gflop_<phase>` and `gflop_executed_<phase>` to `row` when a FlopCounter is active."""
    counted = take_active()
    if counted is not None:
        row[f"gflop_{phase}"] = counted["gflop"]
        row[f"gflop_executed_{phase}"] = counted["gflop_executed"]


def _gather(accelerator: Any, obj: Any) -> list[Any]:
    """Objects from every process, in rank order (one process: [obj])."""
    if accelerator.num_processes == 1:
        return [obj]
    from accelerate.utils import gather_object

    return gather_object([obj])


def evaluate(
    policy: Policy,
    pool: EnvPool,
    tasks: list[Task],
    cfg: TrainConfig,
    gen_cfg: GenerationConfig,
    limits: dict[str, int] | None,
    accelerator: Any,
) -> dict:
    """Play this process's contiguous share of the fixed eval tasks; the whole split's record, gathered in
    task order (every process returns it)."""
    from hiper_repro.agent.evaluate import play_tasks

    rank, world = accelerator.process_index, accelerator.num_processes
    lo, hi = rank * len(tasks) // world, (rank + 1) * len(tasks) // world
    mine = tasks[lo:hi]
    part = {}
    if mine:
        caps = None if limits is None else [limits[t.task_id] for t in mine]
        columns = play_tasks(policy, pool, mine, cfg.fmt, gen_cfg, cfg.run.eval_seed, caps)
        part = evaluation_record(columns)
    return concat_records("evaluation", [p for p in _gather(accelerator, part) if p])


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


def save_final_policy(policy: Policy, cfg: TrainConfig, folder: Path, world: int) -> None:
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

    # ---- tasks, policy (+ separate critic), optimizer ------------------------------------------------
    train_tasks, eval_tasks = load_splits(cfg)
    train_limits, eval_limits = _turn_limits(cfg, train_tasks), _turn_limits(cfg, eval_tasks)
    policy = build_policy(cfg, accelerator.device)
    critic = build_critic(cfg, accelerator.device)
    optimizer, scheduler = build_optimizer(policy, cfg, critic)
    learner = TurnScorer(policy, critic, temperature=cfg.rollout.temperature)  # what checkpoints hold
    scorer, optimizer = accelerator.prepare(learner, optimizer)
    base_optimizer = getattr(optimizer, "optimizer", optimizer)
    pool = EnvPool(cfg.env.name, max(sizes["episodes_per_process"], 1))
    eval_share = -(-len(eval_tasks) // world)  # this process's share of the fixed split, rounded up
    eval_pool = pool
    if cfg.run.eval_batch and min(cfg.run.eval_batch, eval_share) != pool.n:
        eval_pool = EnvPool(cfg.env.name, max(min(cfg.run.eval_batch, eval_share), 1))
    max_turns = cfg.rollout.max_turns or None
    gen_train = GenerationConfig(
        cfg.rollout.max_new_tokens, cfg.rollout.temperature, cfg.env.history_length, max_turns
    )
    # Primary evaluation at the training temperature; secondary (start and end) at eval_temperature.
    gen_eval = gen_train
    gen_secondary = GenerationConfig(
        cfg.rollout.max_new_tokens, cfg.rollout.eval_temperature, cfg.env.history_length, max_turns
    )

    # ---- resume: from the newest checkpoint whose iterations traces.nc and metrics.csv still hold --------
    #      (train/resume.py; the CLI has already refused a folder trained under another config)
    start = 0
    ckpt = resume_point(out, cfg, prune=main)
    if ckpt is not None:
        info = load_checkpoint(ckpt, learner, base_optimizer, {"lr": scheduler}, {})
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
        # tensorboard's hparams take scalars only: a list (run.trackers) goes as one string
        flat_cfg = {k: ",".join(v) if isinstance(v, list) else v for k, v in flat_cfg.items()}
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

    def evaluations(it: int, final: bool) -> dict[str, dict]:
        """The evaluations due after iteration `it`'s update (-1: the starting policy), by trace group."""
        due: dict[str, dict] = {}
        if it < 0 or final or (cfg.run.eval_every and (it + 1) % cfg.run.eval_every == 0):
            due["evaluation"] = evaluate(
                policy, eval_pool, eval_tasks, cfg, gen_eval, eval_limits, accelerator
            )
        if cfg.run.secondary_eval and (it < 0 or final):
            due["evaluation_secondary"] = evaluate(
                policy, eval_pool, eval_tasks, cfg, gen_secondary, eval_limits, accelerator
            )
        return due

    # ---- the starting policy, evaluated once before any update (stored as eval_iteration 0) ----------
    if start == 0:
        t0 = time.perf_counter()
        before = evaluations(-1, final=False)
        if main:
            for group, record in before.items():
                writer.add_evaluation(0, record, group=group)
            writer.flush()
            metrics.log(
                {"iteration": START, **evaluation_columns(before), "time_eval": time.perf_counter() - t0}
            )
            log.info(
                "starting policy: eval success %s (%.1f s)",
                {g: round(float(r["success"].mean()), 4) for g, r in before.items()},
                time.perf_counter() - t0,
            )

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
            take_active()  # FLOPs are counted per phase only under `bench train` (agent/flops.py)
            # ---- rollout: tasks from (seed, iteration); sampling from (seed, iteration, rank) ----------------
            _maybe_fail(it, "rollout")
            t0 = time.perf_counter()
            tasks, groups = iteration_tasks(train_tasks, cfg, it, rank, world)
            ro = rollout(
                policy,
                policy.tokenizer,
                pool,
                tasks,
                cfg.fmt,
                gen_train,
                generator(cfg.run.seed, it, rank, "rollout"),
                groups,
                turn_limits=None if train_limits is None else [train_limits[t.task_id] for t in tasks],
            )
            times["time_rollout"] = time.perf_counter() - t0
            _count_flops(times, "rollout")

            # ---- credit: critic values, shaping, advantages per block, value targets; re-score old and
            #      reference log-probs at the sampling temperature ----------------------------------------
            t0 = time.perf_counter()
            if critic is not None:
                critic_values(ro, learner)
            credit = assign_credit(ro, cfg)
            # the reference's log-probs; the old policy's come from the update's first forward
            batch = prepare_batch(learner, ro.turns, credit, cfg.ppo.kl_coef, rescore=False)
            skipped = all(_gather(accelerator, credit.policy_skipped))  # every process must agree
            warming = it < cfg.ppo.critic_warmup_iterations  # the critic learns, the policy waits
            times["time_credit"] = time.perf_counter() - t0
            _count_flops(times, "credit")

            # ---- update: epochs x minibatches of PPO-clip + KL + entropy + clipped value losses --------------
            _maybe_fail(it, "update")
            t0 = time.perf_counter()
            lr = scheduler.get_last_lr()[0]  # the actor rate this update runs at
            train_policy = not (skipped or warming)
            stats = ppo_update(
                accelerator,
                scorer,
                optimizer,
                batch,
                cfg.ppo,
                generator(cfg.run.seed, it, rank, "minibatch"),
                train_policy=train_policy,
            )
            if cfg.ppo.value_epochs:  # the critic fits this batch further; the policy is not touched
                stats |= fit_critic(
                    accelerator,
                    learner,
                    base_optimizer,
                    batch,
                    cfg.ppo,
                    generator(cfg.run.seed, it, rank, "value"),
                )
            scheduler.step()
            diag = diagnostics(ro, credit, cfg, train_policy)
            keys = sorted(stats)
            if world > 1:  # per-process partial means -> global means
                vec = accelerator.reduce(
                    torch.tensor([stats[k] for k in keys], device=accelerator.device), "mean"
                )
                stats = dict(zip(keys, vec.tolist()))
            times["time_update"] = time.perf_counter() - t0
            _count_flops(times, "update")

            # ---- evaluation on the fixed split every K iterations and at the end ----------------------------
            t0 = time.perf_counter()
            due = evaluations(it, final=it == last)
            times["time_eval"] = time.perf_counter() - t0
            _count_flops(times, "eval")

            # ---- log and trace (main process), then checkpoint ----------------------------------------------
            t0 = time.perf_counter()
            rec = trace_records(ro, credit, cfg.has_critic)
            gathered = _gather(accelerator, (rec, ro.n_generated_tokens, diag))
            if main:
                rec = {
                    g: concat_records(g, [r[g] for r, _, _ in gathered])
                    for g in ("turns", "segments", "episodes")
                }
                diag = _pool_diagnostics([d for _, _, d in gathered], stats)
                diag["lr"] = lr
                writer.add_iteration(it, **rec)
                writer.add_diagnostics(it, diag)
                for group, record in due.items():
                    writer.add_evaluation(it + 1, record, group=group)  # updates completed
                checkpoint_due = (it + 1) % cfg.run.checkpoint_every == 0 or it == last
                if checkpoint_due:  # the file is rewritten whole: once per checkpoint, not per iteration
                    writer.flush()
                row = {"iteration": it, **rollout_summary(rec, cfg.fmt), **stats, **times}
                row |= {k: float(diag[k]) for k in (*EXPLAINED_VARIANCE, "adv_switch_abs", "adv_action_std")}
                row["policy_skipped"] = int(skipped)
                row["policy_updated"] = int(train_policy)
                row["lr"] = lr
                row["tokens_per_s"] = sum(n for _, n, _ in gathered) / max(times["time_rollout"], 1e-9)
                row |= evaluation_columns(due)
                row["time_trace"] = time.perf_counter() - t0
                metrics.log(row)
                _maybe_fail(it, "trace")
                if checkpoint_due:
                    ckpt_root = out / "checkpoints"
                    save_checkpoint(
                        ckpt_root,
                        it,
                        learner,
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
        if eval_pool is not pool:
            eval_pool.close()

    # ---- the end: final policy, run summary, trackers closed, and the `done` marker written last ----------
    if main:
        save_final_policy(policy, cfg, out / "policy", world)
        if critic is not None:
            critic.save(out / "critic")
        run_info = json.loads((out / "run.json").read_text())
        run_info["peak_rss_mb"] = peak_rss_mb()
        write_atomic(out / "run.json", json.dumps(run_info, indent=1))
    accelerator.wait_for_everyone()
    accelerator.end_training()  # every process: flushes trackers and ends the process group
    if main:
        finished = {"iterations": cfg.run.iterations, "finished": time.time()}
        write_atomic(out / "done", json.dumps(finished) + "\n")
        # one line even with the progress bar off: how the run ended and where its outputs are
        title = f"{cfg.method.name} {cfg.env.name} h{cfg.env.horizon} seed {cfg.run.seed}"
        summary = run_summary(metrics.rows, out, title)
        log.info(summary)
        print(summary, flush=True)
    return out
