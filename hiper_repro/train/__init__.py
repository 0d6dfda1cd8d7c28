"""Training: config, methods (credit assembly), batch preparation, PPO losses and update, records, checkpoints,
metrics, the loop.

Public entry points: `load_config`, `build_config`, `TrainConfig`, `train(cfg, out_dir)`; the command
`hiper-repro train --config FILE --out DIR` (train/cli.py) and `hiper-repro bench train` (train/bench.py).
"""

from hiper_repro.train.config import METHODS, TrainConfig, build_config, load_config

__all__ = ["METHODS", "TrainConfig", "build_config", "load_config", "train"]


def train(cfg: TrainConfig, out_dir):  # noqa: ANN001 - thin lazy wrapper keeps `import hiper_repro.train` light
    """Train one run into `out_dir` (see `hiper_repro.train.loop.train`)."""
    from hiper_repro.train.loop import train as _train

    return _train(cfg, out_dir)
