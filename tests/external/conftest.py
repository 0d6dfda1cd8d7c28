"""Trimmed real veRL logs (tests/external/fixtures/README.md) and builders of damaged ones."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).with_name("fixtures")
REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "data" / "authors-logs"
FLAT = FIXTURES / "flat_ppo_trimmed.log"
SEED5 = FIXTURES / "hiper_seed5_trimmed.log.gz"
TWO_HEADS = FIXTURES / "hiper_two_heads_trimmed.log.gz"


def text_of(path: Path) -> str:
    """The fixture's text, decoded as the parser decodes it."""
    data = path.read_bytes()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", errors="replace")


def record_lines(text: str) -> list[str]:
    """Lines that hold a step record, found without the parser's code: colour codes (SGR) removed, then
    the Ray prefix ``(TaskRunner pid=N)`` followed by ``step:``."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return [ln for ln in plain.split("\n") if ") step:" in ln and " - " in ln]


@pytest.fixture
def flat_text() -> str:
    return text_of(FLAT)


@pytest.fixture
def write_log(tmp_path):
    """Write text or bytes to a file in tmp_path and return its path."""

    def write(name: str, data: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    return write


def synthetic_log(
    path: Path,
    estimator: str,
    seed: int,
    rates: dict[int, float],
    *,
    extra: str = "",
    val_episodes: int = 128,
    switches: tuple[float, float] | None = None,
    last_step: int = 100,
) -> Path:
    """A veRL-style log: a command line, training records on steps 1..last_step (timings; switch counts
    going linearly from ``switches[0]`` to ``switches[1]`` per 10-turn episode) and validation records
    with ``val/success_rate`` and one per-type rate (``rates``: step -> rate, step-held between keys)."""
    lines = [
        f"+ python3 -m verl.trainer.main_ppo algorithm.adv_estimator={estimator} env.env_name=alfworld/X "
        f"env.seed={seed} data.val_batch_size={val_episodes} data.train_batch_size=128 "
        f"trainer.n_gpus_per_node=4 {extra}".strip()
    ]
    keys = sorted(rates)
    for step in range(last_step + 1):
        items = []
        if step:
            items += ["timing_s/gen:100.0", "timing_s/update_actor:20.0", "timing_s/step:130.0"]
            items += ["episode/length/mean:10.0"]
            if switches is not None:
                a, b = switches
                items.append(f"episode/switch_count/mean:{10 * (a + (b - a) * step / last_step):.3f}")
        if step % 5 == 0:
            rate = rates[max(k for k in keys if k <= step)] if step >= keys[0] else 0.0
            items += [f"val/success_rate:{rate:.3f}", f"val/pick_success_rate:{rate:.3f}"]
            if step:
                items.append("timing_s/testing:50.0")
        lines.append(f"(TaskRunner pid=1) step:{step} - " + " - ".join(items))
    path.write_text("\n".join(lines) + "\n")
    return path
