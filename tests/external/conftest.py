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
