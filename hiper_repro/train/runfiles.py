"""The run folder's bookkeeping, written by the main process around the loop: provenance and outputs.

At the start (`open_run_files`): config.yaml (the resolved config), run.json (the traces' provenance attrs,
sizes, processes, device, and one entry per start: a resume appends one), the trace writer (new, or resumed
at the checkpoint's iteration keeping the original start's provenance), the trackers' hyperparameters and
metrics.csv (resumed rows dropped). At the end (`record_peak_rss`): the peak resident set size in run.json.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hiper_repro.io import write_atomic
from hiper_repro.train.config import TrainConfig, save_config
from hiper_repro.train.metrics import MetricsLog
from hiper_repro.train.setup import model_path

if TYPE_CHECKING:
    from hiper_repro.traces import TraceWriter


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tracker_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config as flat `section.key` scalars for the trackers' hparams (empty strings left out)."""
    flat = {f"{k}.{kk}": vv for k, v in cfg.to_dict().items() for kk, vv in v.items()}
    # tensorboard's hparams take scalars only: a list (run.trackers) goes as one string
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in flat.items()}
    return {k: v for k, v in flat.items() if v != ""}


def record_start(
    out: Path, provenance: dict[str, Any], sizes: dict[str, int], world: int, device: str, start: int
) -> None:
    """run.json: the provenance of the run's first start (kept on resume), sizes, processes, device, and
    this start's iteration and time appended to `starts`."""
    run_json = out / "run.json"
    info = (
        json.loads(run_json.read_text()) if start > 0 and run_json.is_file() else {"provenance": provenance}
    )
    info |= {"sizes": sizes, "processes": world, "device": device}
    info.setdefault("starts", []).append({"iteration": start, "time": time.time()})
    write_atomic(run_json, json.dumps(info, indent=1))


def record_peak_rss(out: Path) -> None:
    """Add this process's peak RSS (`peak_rss_mb`) to run.json."""
    info = json.loads((out / "run.json").read_text())
    info["peak_rss_mb"] = peak_rss_mb()
    write_atomic(out / "run.json", json.dumps(info, indent=1))


def open_run_files(
    cfg: TrainConfig, out: Path, start: int, accelerator: Any, horizon: int
) -> tuple[TraceWriter, MetricsLog]:
    """Write config.yaml and run.json, open the traces and metrics.csv (resumed at `start` > 0) and the
    trackers; `horizon` is the training tasks' own label. Main process only."""
    from hiper_repro.traces import TraceWriter, make_provenance

    world = accelerator.num_processes
    attrs = make_provenance(
        config=cfg.to_dict(),
        method=cfg.method.name,
        env=cfg.env.name,
        horizon=horizon,
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
    record_start(out, attrs, cfg.derived(world), world, str(accelerator.device), start)
    accelerator.init_trackers("tensorboard", config=_tracker_config(cfg))
    return writer, MetricsLog(out / "metrics.csv", tracker=accelerator, resume_from=start)
