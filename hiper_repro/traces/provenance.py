"""Provenance stamped on every run's traces (ArviZ's `make_attrs`, plus commit, config hash, model, device).

netCDF attributes hold strings and numbers only, so the resolved config and the library versions are
stored as JSON strings; `config_hash` is the sha256 of the canonical config JSON (sorted keys, no spaces),
so two runs with the same resolved config share the hash whatever order the keys were written in.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from hiper_repro.traces.schema import SCHEMA_VERSION

# Libraries whose versions change numbers in the traces; looked up without importing them.
LIBRARIES: tuple[str, ...] = (
    "numpy",
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "accelerate",
    "xarray",
    "h5netcdf",
    "h5py",
    "scipy",
    "pandas",
    "textworld",
    "alfworld",
)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise ValueError(f"config: value {value!r} of type {type(value).__name__} is not JSON-serialisable")


def canonical_json(config: dict) -> str:
    """The resolved config as canonical JSON: sorted keys, compact separators, paths as strings."""
    if not isinstance(config, dict):
        raise ValueError(f"config: expected a dict (the resolved config), got {type(config).__name__}")
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)


def config_hash(config_json: str) -> str:
    """sha256 hex digest of a canonical config JSON string."""
    return hashlib.sha256(config_json.encode("utf-8")).hexdigest()


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    import platform

    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return tuple(versions.items())


def library_versions() -> dict[str, str]:
    """Installed versions of `LIBRARIES` and Python ("absent" for those not installed); looked up once
    per process (parsing package metadata costs about 0.1 s)."""
    return dict(_library_versions())


def checkout_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding a `.git` entry (a folder, or a worktree's file)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _git_dirs(root: Path) -> tuple[Path, Path]:
    """(git dir, common dir) of the checkout at `root`: `.git` itself, or for a worktree the folder its
    `.git` file points to and the main repository's (`commondir`), where shared refs live."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    text = dot_git.read_text().strip()
    if not text.startswith("gitdir:"):
        raise OSError(f"{dot_git}: not a gitdir file")
    git_dir = (root / text.removeprefix("gitdir:").strip()).resolve()
    common = git_dir / "commondir"
    return git_dir, (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir


def read_head(root: Path) -> str | None:
    """The commit HEAD names, read from the repository's files (HEAD, then the loose ref or packed-refs):
    no git binary, and no git permission check, needed. None when it cannot be read."""
    try:
        git_dir, common = _git_dirs(root)
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None  # detached HEAD: the commit itself
        ref = head.removeprefix("ref:").strip()
        for folder in (git_dir, common):
            if (folder / ref).is_file():
                return (folder / ref).read_text().strip() or None
        packed = common / "packed-refs"
        lines = packed.read_text().splitlines() if packed.is_file() else []
        return next((line.split()[0] for line in lines if line.endswith(f" {ref}")), None)
    except OSError:
        return None


def _dirty(root: Path) -> bool | None:
    """Whether tracked files differ from HEAD (git status); None when git cannot answer (no git binary).
    `safe.directory` lets git read a checkout owned by another user (a shared or mounted checkout, which
    git otherwise refuses as "dubious ownership"); `core.fsmonitor=false` keeps such a checkout's own
    config from running a program."""
    command = ["git", "-c", f"safe.directory={root}", "-c", "core.fsmonitor=false"]
    try:
        status = subprocess.run(
            [*command, "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(status.stdout.strip())


@functools.cache
def git_commit(repo: Path | None = None) -> str:
    """HEAD commit of the checkout the package runs from, suffixed "-dirty" if tracked files changed
    ("-unchecked" where git cannot tell); "unknown" only when it is not a git checkout (an installed wheel).

    The commit is read from the repository's files (`read_head`): asking git alone recorded "unknown"
    whenever git refused the checkout (owned by another user: "dubious ownership") or was not installed.
    Cached per process: the commit a process started from is the one its results belong to.
    """
    root = checkout_root((repo or Path(__file__)).resolve())
    head = None if root is None else read_head(root)
    if head is None:
        return "unknown"
    return head + {True: "-dirty", False: "", None: "-unchecked"}[_dirty(root)]


@functools.cache
def package_version() -> str:
    try:
        return metadata.version("hiper-repro")
    except metadata.PackageNotFoundError:
        return "unknown"


def make_provenance(
    *,
    config: dict,
    method: str,
    env: str,
    horizon: int,
    seed: int,
    model_id: str,
    device: str,
    created: str | None = None,
) -> dict[str, str | int]:
    """Root attrs of a run's traces (every key of `schema.ROOT_ATTRS` but `keep_every`, which the
    `TraceWriter` stamps).

    Adds `created` (UTC ISO 8601, seconds; pass it to make synthetic data reproducible),
    `hiper_repro_version`, `git_commit`, `library_versions` (JSON), `config` (canonical JSON),
    `config_hash` and `schema_version` to the caller's identity fields; `method` becomes the attr
    ``method_name``.
    """
    for name, value in (("method", method), ("env", env), ("model_id", model_id), ("device", device)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"make_provenance: {name} must be a non-empty string, got {value!r}")
    for name, value in (("horizon", horizon), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"make_provenance: {name} must be an int, got {value!r}")
    if horizon < 1 or seed < 0:
        raise ValueError(
            f"make_provenance: need horizon >= 1 and seed >= 0, got horizon={horizon}, seed={seed}"
        )
    config_json = canonical_json(config)
    return {
        "method_name": method,
        "env": env,
        "horizon": horizon,
        "seed": seed,
        "created": created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hiper_repro_version": package_version(),
        "git_commit": git_commit(),
        "library_versions": json.dumps(library_versions(), sort_keys=True),
        "config": config_json,
        "config_hash": config_hash(config_json),
        "model_id": model_id,
        "device": device,
        "schema_version": SCHEMA_VERSION,
    }
