"""The training loop, top to bottom (CleanRL's ppo.py order): `_train` is setup (accelerate, seeding, tasks,
policy and critic, optimizer, resume, run files), the starting policy's evaluation, then per iteration
rollout -> credit (critic values, advantages per block, reference log-probs) -> update (epochs x
minibatches) -> evaluation -> records (traces, metrics row) -> checkpoint. The phases are functions
(`train.methods`, `train.batch`, `train.update`, `train.records`, `train.runfiles`) the loop calls.

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

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hiper_repro.agent.flops import take_active
from hiper_repro.envs.tasks import task_horizon
from hiper_repro.io import write_atomic
from hiper_repro.train.batch import VALUE_SLOTS, TurnBatch, TurnScorer, prepare_batch
from hiper_repro.train.checkpoint import load_checkpoint, save_checkpoint
from hiper_repro.train.config import TrainConfig
from hiper_repro.train.methods import assign_credit
from hiper_repro.train.metrics import START, MetricsLog, evaluation_columns, run_summary
from hiper_repro.train.records import (
    concat_records,
    diagnostics,
    evaluation_record,
    metrics_row,
    pool_diagnostics,
    trace_records,
)
from hiper_repro.train.resume import resume_point
from hiper_repro.train.runfiles import open_run_files, record_peak_rss
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
from hiper_repro.train.update import fit_critic, ppo_update

if TYPE_CHECKING:
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.agent.policy import Policy
    from hiper_repro.agent.rollout import Rollout
    from hiper_repro.envs import EnvPool, Task
    from hiper_repro.traces import TraceWriter

FAIL_ENV = "HIPER_REPRO_FAIL_AT"
log = logging.getLogger("hiper_repro.train")


class InjectedFailure(RuntimeError):
    """Raised by HIPER_REPRO_FAIL_AT (tests of resume)."""


def _maybe_fail(iteration: int, phase: str) -> None:
    spec = os.environ.get(FAIL_ENV, "")
    if spec and spec == f"{iteration}:{phase}":
        raise InjectedFailure(f"{FAIL_ENV}={spec}: injected failure in iteration {iteration}, phase {phase}")


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


def critic_values(rollout: Rollout, learner: TurnScorer) -> None:
    """Overwrite the rollout's values with the separate critic's (same positions; no grad)."""
    from hiper_repro.agent.scoring import score_values

    with torch.no_grad():
        values = score_values(learner.critic, rollout.turns, learner.critic.pad_id)
    b = torch.tensor([tt.b for tt in rollout.turns])
    t = torch.tensor([tt.t for tt in rollout.turns])
    for name in VALUE_SLOTS:
        field = getattr(rollout, f"value_{name}")
        field[b, t] = values[f"value_{name}"].float().cpu()


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


@dataclass
class _Run:
    """What the loop holds for a run's lifetime, built once by `_setup` (`writer` and `metrics` on the
    main process only)."""

    cfg: TrainConfig
    out: Path
    accelerator: Any
    train_tasks: list[Task]
    eval_tasks: list[Task]
    train_limits: dict[str, int] | None
    eval_limits: dict[str, int] | None
    policy: Policy
    critic: Policy | None
    learner: TurnScorer  # the policy and its critic, unwrapped: what checkpoints hold
    ddp_learner: Any  # `learner` as accelerate wrapped it (DDP): what the update differentiates
    optimizer: Any  # as accelerate prepared it
    base_optimizer: torch.optim.Optimizer
    scheduler: Any
    pool: EnvPool
    eval_pool: EnvPool
    gen_train: GenerationConfig
    gen_secondary: GenerationConfig
    start: int
    writer: TraceWriter | None = None
    metrics: MetricsLog | None = None

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def _setup(cfg: TrainConfig, out: Path) -> _Run:
    """Accelerate, seeding, tasks, policy (+ separate critic), optimizer, env pools, generation settings,
    the resume point and, on the main process, the run files (`runfiles.open_run_files`)."""
    from hiper_repro.agent.generation import GenerationConfig
    from hiper_repro.envs import EnvPool

    accelerator = make_accelerator(cfg, out)
    world = accelerator.num_processes
    sizes = cfg.derived(world)
    # The weight seed is shared by all processes (identical initial weights); sampling seeds are offset
    # by rank and derived per iteration (setup.derived_seed).
    seed_everything(cfg.run.seed)
    train_tasks, eval_tasks = load_splits(cfg)
    train_limits, eval_limits = _turn_limits(cfg, train_tasks), _turn_limits(cfg, eval_tasks)
    policy = build_policy(cfg, accelerator.device)
    critic = build_critic(cfg, accelerator.device)
    optimizer, scheduler = build_optimizer(policy, cfg, critic)
    learner = TurnScorer(policy, critic, temperature=cfg.rollout.temperature)
    ddp_learner, optimizer = accelerator.prepare(learner, optimizer)
    base_optimizer = getattr(optimizer, "optimizer", optimizer)
    pool = EnvPool(cfg.env.name, max(sizes["episodes_per_process"], 1))
    eval_share = -(-len(eval_tasks) // world)  # this process's share of the fixed split, rounded up
    eval_pool = pool
    if cfg.run.eval_batch and min(cfg.run.eval_batch, eval_share) != pool.n:
        eval_pool = EnvPool(cfg.env.name, max(min(cfg.run.eval_batch, eval_share), 1))
    r, max_turns = cfg.rollout, cfg.rollout.max_turns or None
    # Primary evaluation at the training temperature; secondary (start and end) at eval_temperature.
    gen_train = GenerationConfig(r.max_new_tokens, r.temperature, cfg.env.history_length, max_turns)
    gen_secondary = GenerationConfig(r.max_new_tokens, r.eval_temperature, cfg.env.history_length, max_turns)
    # Resume from the newest checkpoint whose iterations traces.nc and metrics.csv still hold
    # (train/resume.py; the CLI has already refused a folder trained under another config).
    start = 0
    ckpt = resume_point(out, cfg, prune=accelerator.is_main_process)
    if ckpt is not None:
        start = load_checkpoint(ckpt, learner, base_optimizer, {"lr": scheduler}, {})["iteration"] + 1
    run = _Run(
        cfg=cfg,
        out=out,
        accelerator=accelerator,
        train_tasks=train_tasks,
        eval_tasks=eval_tasks,
        train_limits=train_limits,
        eval_limits=eval_limits,
        policy=policy,
        critic=critic,
        learner=learner,
        ddp_learner=ddp_learner,
        optimizer=optimizer,
        base_optimizer=base_optimizer,
        scheduler=scheduler,
        pool=pool,
        eval_pool=eval_pool,
        gen_train=gen_train,
        gen_secondary=gen_secondary,
        start=start,
    )
    if run.main:
        # the traces' horizon is the tasks' own label (load_splits checked the config's)
        run.writer, run.metrics = open_run_files(cfg, out, start, accelerator, task_horizon(train_tasks))
        log.info(
            "run %s: method=%s start=%d/%d processes=%d",
            out,
            cfg.method.name,
            start,
            cfg.run.iterations,
            world,
        )
    return run


@contextlib.contextmanager
def _timed(times: dict[str, float], phase: str) -> Iterator[None]:
    """`times['time_<phase>']`: the wall seconds of the block; then its FLOPs when counted (`_count_flops`)."""
    t0 = time.perf_counter()
    yield
    times[f"time_{phase}"] = time.perf_counter() - t0
    _count_flops(times, phase)


def _evaluations(run: _Run, it: int, final: bool) -> dict[str, dict]:
    """The evaluations due after iteration `it`'s update (-1: the starting policy), by trace group."""
    cfg, args = run.cfg, (run.eval_pool, run.eval_tasks, run.cfg)
    due: dict[str, dict] = {}
    if it < 0 or final or (cfg.run.eval_every and (it + 1) % cfg.run.eval_every == 0):
        due["evaluation"] = evaluate(run.policy, *args, run.gen_train, run.eval_limits, run.accelerator)
    if cfg.run.secondary_eval and (it < 0 or final):
        due["evaluation_secondary"] = evaluate(
            run.policy, *args, run.gen_secondary, run.eval_limits, run.accelerator
        )
    return due


def _evaluate_start(run: _Run) -> None:
    """The starting policy, evaluated once before any update: eval_iteration 0, metrics row START."""
    t0 = time.perf_counter()
    before = _evaluations(run, -1, final=False)
    if not run.main:
        return
    for group, record in before.items():
        run.writer.add_evaluation(0, record, group=group)
    run.writer.flush()
    run.metrics.log({"iteration": START, **evaluation_columns(before), "time_eval": time.perf_counter() - t0})
    log.info(
        "starting policy: eval success %s (%.1f s)",
        {g: round(float(r["success"].mean()), 4) for g, r in before.items()},
        time.perf_counter() - t0,
    )


def _rollout(run: _Run, it: int) -> Rollout:
    """This process's episodes of iteration `it`: tasks from (seed, iteration), sampling from (seed,
    iteration, rank)."""
    from hiper_repro.agent.rollout import rollout

    cfg, rank = run.cfg, run.accelerator.process_index
    tasks, groups = iteration_tasks(run.train_tasks, cfg, it, rank, run.accelerator.num_processes)
    limits = None if run.train_limits is None else [run.train_limits[t.task_id] for t in tasks]
    gen = generator(cfg.run.seed, it, rank, "rollout")
    return rollout(run.policy, run.policy.tokenizer, run.pool, tasks, cfg.fmt, run.gen_train, gen, groups,
                   turn_limits=limits)  # fmt: skip


def _update(run: _Run, batch: TurnBatch, it: int, train_policy: bool) -> dict[str, float]:
    """PPO on the batch, then the critic's extra value-only passes (`ppo.value_epochs`) and the scheduler's
    step; the update's diagnostics as means over processes."""
    cfg, acc, rank = run.cfg, run.accelerator, run.accelerator.process_index
    minibatches = generator(cfg.run.seed, it, rank, "minibatch")
    stats = ppo_update(
        acc, run.ddp_learner, run.optimizer, batch, cfg.ppo, minibatches, train_policy=train_policy
    )
    if cfg.ppo.value_epochs:  # the critic fits this batch further; the policy is not touched
        value_gen = generator(cfg.run.seed, it, rank, "value")
        stats |= fit_critic(acc, run.learner, run.base_optimizer, batch, cfg.ppo, value_gen)
    run.scheduler.step()
    if acc.num_processes > 1:  # per-process partial means -> global means
        keys = sorted(stats)
        vec = acc.reduce(torch.tensor([stats[k] for k in keys], device=acc.device), "mean")
        stats = dict(zip(keys, vec.tolist()))
    return stats


def _record(
    run: _Run,
    it: int,
    gathered: list[tuple[dict, int, dict]],
    update: dict[str, float],
    times: dict[str, float],
    due: dict[str, dict],
    *,
    lr: float,
    skipped: bool,
    flush: bool,
    t0: float,
) -> dict[str, Any]:
    """Main process: every process's (trace records, generated tokens, batch statistics) joined into the
    traces (the file rewritten when `flush`) and the metrics row, which it logs and returns."""
    rec = {g: concat_records(g, [r[g] for r, _, _ in gathered]) for g in ("turns", "segments", "episodes")}
    pooled = pool_diagnostics([d for _, _, d in gathered], update, lr)
    run.writer.add_iteration(it, **rec)
    run.writer.add_diagnostics(it, pooled)
    for group, record in due.items():
        run.writer.add_evaluation(it + 1, record, group=group)  # labelled by the updates completed
    if flush:  # the file is rewritten whole: once per checkpoint, not per iteration
        run.writer.flush()
    tokens = sum(n for _, n, _ in gathered)
    row = metrics_row(it, rec, pooled, update, times, fmt=run.cfg.fmt, policy_skipped=skipped,
                      generated_tokens=tokens, evaluations=due)  # fmt: skip
    row["time_trace"] = time.perf_counter() - t0
    run.metrics.log(row)
    return row


def _log_row(it: int, row: dict[str, Any], bar: Any) -> None:
    """The row in train.log (4 significant digits) and the progress bar's postfix."""
    log.info(
        "iteration %d: %s",
        it,
        json.dumps({k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in row.items()}),
    )
    bar.set_postfix(success=f"{row['success']:.2f}", eval=f"{row.get('eval_success', float('nan')):.2f}")


def _finish(run: _Run) -> None:
    """The end: final policy (and critic), peak RSS, trackers closed, the `done` marker written last and
    one summary line, with or without the progress bar."""
    cfg, out, acc = run.cfg, run.out, run.accelerator
    if run.main:
        save_final_policy(run.policy, cfg, out / "policy", acc.num_processes)
        if run.critic is not None:
            run.critic.save(out / "critic")
        record_peak_rss(out)
    acc.wait_for_everyone()
    acc.end_training()  # every process: flushes trackers and ends the process group
    if run.main:
        write_atomic(
            out / "done", json.dumps({"iterations": cfg.run.iterations, "finished": time.time()}) + "\n"
        )
        title = f"{cfg.method.name} {cfg.env.name} h{cfg.env.horizon} seed {cfg.run.seed}"
        summary = run_summary(run.metrics.rows, out, title)
        log.info(summary)
        print(summary, flush=True)


def _train(cfg: TrainConfig, out: Path) -> Path:
    """The loop itself (`train` adds the log file and the error line around it)."""
    from tqdm.auto import tqdm

    # ---- setup: accelerate, seeding, tasks, policy (+ critic), optimizer, pools, resume, run files ------
    run = _setup(cfg, out)
    acc, main, last = run.accelerator, run.main, cfg.run.iterations - 1
    if run.start == 0:  # the starting policy, evaluated once before any update (eval_iteration 0)
        _evaluate_start(run)
    bar = tqdm(total=cfg.run.iterations, initial=run.start, disable=not (main and cfg.run.progress),
               desc=f"{cfg.method.name} s{cfg.run.seed}", unit="it")  # fmt: skip
    try:
        for it in range(run.start, cfg.run.iterations):
            times: dict[str, float] = {}
            take_active()  # FLOPs are counted per phase only under `bench train` (agent/flops.py)
            # ---- rollout: tasks from (seed, iteration); sampling from (seed, iteration, rank) -----------
            _maybe_fail(it, "rollout")
            with _timed(times, "rollout"):
                ro = _rollout(run, it)

            # ---- credit: critic values, shaping, advantages per block, value targets; the reference's
            #      log-probs at the sampling temperature (the old policy's come from the update's first
            #      forward) -------------------------------------------------------------------------------
            with _timed(times, "credit"):
                if run.critic is not None:
                    critic_values(ro, run.learner)
                assigned = assign_credit(ro, cfg)
                batch = prepare_batch(run.learner, ro.turns, assigned, cfg.ppo.kl_coef, rescore=False)
                skipped = all(_gather(acc, assigned.policy_skipped))  # every process must agree
                warming = it < cfg.ppo.critic_warmup_iterations  # the critic learns, the policy waits

            # ---- update: epochs x minibatches of PPO-clip + KL + entropy + clipped value losses ----------
            _maybe_fail(it, "update")
            with _timed(times, "update"):
                lr = run.scheduler.get_last_lr()[0]  # the actor rate this update runs at
                train_policy = not (skipped or warming)
                stats = _update(run, batch, it, train_policy)
                diag = diagnostics(ro, assigned, cfg, train_policy)

            # ---- evaluation on the fixed split every K iterations and at the end ------------------------
            with _timed(times, "eval"):
                due = _evaluations(run, it, final=it == last)

            # ---- records: traces and the metrics row (main process), then checkpoint --------------------
            t0 = time.perf_counter()
            gathered = _gather(acc, (trace_records(ro, assigned, cfg), ro.n_generated_tokens, diag))
            if main:
                checkpoint_due = (it + 1) % cfg.run.checkpoint_every == 0 or it == last
                row = _record(run, it, gathered, stats, times, due, lr=lr, skipped=skipped,
                              flush=checkpoint_due, t0=t0)  # fmt: skip
                _maybe_fail(it, "trace")
                if checkpoint_due:
                    save_checkpoint(out / "checkpoints", it, run.learner, run.base_optimizer,
                                    {"lr": run.scheduler}, {}, keep=cfg.run.keep_checkpoints)  # fmt: skip
                _log_row(it, row, bar)
            acc.wait_for_everyone()
            bar.update(1)
    finally:
        bar.close()
        run.pool.close()
        if run.eval_pool is not run.pool:
            run.eval_pool.close()

    # ---- the end: final policy, run summary, trackers closed, and the `done` marker written last ---------
    _finish(run)
    return out
