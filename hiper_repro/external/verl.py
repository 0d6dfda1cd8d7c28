"""Read one veRL console log (``python3 -m verl.trainer.main_ppo ...``, plain or gzip) into a Dataset.

What a log holds and how each part is read:

- the command line (``... verl.trainer.main_ppo key=value ...``): its Hydra overrides give the metadata
  (``algorithm.adv_estimator``, ``env.env_name``, ``env.seed``, ``actor_rollout_ref.model.path``,
  ``data.val_batch_size``). The first command line with at least one override is used; shell quoting
  is honoured (``'trainer.logger=[console,wandb]'``), and a line cut short is split on spaces instead.
- one record per training step, ``step:K - name:value - name:value ...`` (after a Ray prefix such as
  ``(TaskRunner pid=N)``): every ``name:value`` becomes the value of variable ``name`` at step ``K``.
  Validation metrics (``val/...``) exist every few steps only; elsewhere they are NaN.
- everything else (shell trace, Ray/vLLM output, warnings, tracebacks, progress bars) is counted, not read.

Damage is read around, never guessed at, and every value lost is named:

- gzip is decompressed strictly, member by member: a member whose data or checksum is damaged is not
  read at all (zlib notices damage only after it has already produced text from it, and deflate's
  back-references spread one bad byte over what follows, so no part of that member can be trusted).
  Damage in the first member is a :class:`VerlLogError`; damage in a later one keeps the members before
  it (``truncated = 1``). A stream that merely stops (a cut file, NUL padding after a crash) keeps what
  came out, minus the cut line (``truncated = 1``).
- ANSI colour codes are removed; carriage returns split a line into segments (progress bars overwrite
  themselves), and a record may sit in any segment; Ray's ``[repeated Nx across cluster]`` suffix is dropped.
- a metric's name is what precedes the last colon of a `` - ``-separated field (spaces and parentheses
  included, as in WebShop's ``val/webshop_task_score (not success_rate)``), its value what follows.
  Values are parsed strictly (``[+-]digits[.digits][e[+-]digits]``: no ``_`` separators, no hex) and must
  be finite; success rates (names ending in ``success_rate`` once a parenthesised remark is removed) must
  lie in [0, 1]. An entry that breaks a rule is dropped and listed in ``dropped`` (step, entry, reason).
- undecodable bytes become U+FFFD, so an entry they touch is dropped; a run of NUL bytes ends the text
  before it (files padded after a crash), so that segment's last entry is dropped as possibly cut, like
  the last line of a file that does not end with a newline.
- a step logged twice (a resumed run) keeps the later value of every metric (``n_repeated_steps``).

Without a command line, ``meta`` supplies ``method``, ``seed`` and ``env`` (and optionally ``model``,
``val_episodes``, ``adv_estimator``); values in ``meta`` always win over the command line. A file that
cannot be read, holds no step record, or lacks the metadata raises :class:`VerlLogError` naming the file.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

# adv_estimator on the command line -> method name of this package.
METHODS = {"hgae": "hiper", "gae": "ppo", "turn_gae": "ppo", "grpo": "grpo", "rloo": "rloo", "gigpo": "gigpo"}
META_KEYS = ("method", "seed", "env", "model", "val_episodes", "adv_estimator")
REQUIRED = ("method", "seed", "env")

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
RAY_REPEATED = re.compile(r"\s*\[repeated \d+x across cluster\]")
RECORD = re.compile(r"(?:^|[\s)])step:(\d+)(?: - |\s*$)")
NAME = re.compile(r"[A-Za-z_][^\x00-\x1f\x7f\ufffd]*")  # printable, as veRL's keys: spaces and ( ) allowed
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")  # no "_" (float() accepts 1_0)
NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
REMARK = re.compile(r"\s*\([^)]*\)")  # "val/x_task_score (not success_rate)": the remark is not the name
COMMAND = re.compile(r"(?:-m\s+verl\.trainer\.main_ppo|verl/trainer/main_ppo\.py)(?=\s|$)")
OVERRIDE = re.compile(r"[+~]*([A-Za-z_][\w.\-/]*)=(.*)", re.DOTALL)
NUL_RUN = re.compile(r"\x00+")
CHUNK = 1 << 16


class VerlLogError(ValueError):
    """A log that cannot be read at all, or lacks what the dataset needs; the message names the file."""


@dataclass
class _Parsed:
    """What one pass over the text found."""

    records: dict[int, dict[str, float]] = field(default_factory=dict)
    dropped: list[tuple[int, str, str]] = field(default_factory=list)  # (step, entry, why) never read
    overrides: dict[str, str] | None = None
    n_lines: int = 0
    n_step_lines: int = 0
    n_skipped: int = 0
    n_repeated_steps: int = 0
    n_command_lines: int = 0


def is_rate(name: str) -> bool:
    """A success rate, which must lie in [0, 1]: the name ends in ``success_rate`` once a parenthesised
    remark is removed (``val/webshop_task_score (not success_rate)`` is a score, not a rate)."""
    return REMARK.sub("", name).strip().endswith("success_rate")


def read_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's bytes, gunzipped when they start with the gzip magic number, and whether text may be
    missing at the end (the stream stops early, or a later member is damaged; see the module docstring).

    Raises :class:`VerlLogError` when the first gzip member is damaged: none of its text can be trusted.
    """
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw, False
    out, rest, member = bytearray(), raw, 0
    while rest[:2] == b"\x1f\x8b":
        member += 1
        try:
            text, rest, complete = _inflate(rest)
        except zlib.error as err:
            if member == 1:
                raise VerlLogError(
                    f"{path}: the gzip data is damaged ({err}; member 1 of the stream): zlib cannot tell "
                    "where the damage starts, so none of its text can be trusted; restore the file"
                ) from None
            return bytes(out), True  # the members before the damaged one passed their checksums
        out += text
        if not complete:
            return bytes(out), True  # cut short: what came out is a prefix of the real text
    return bytes(out), bool(rest.strip(b"\x00"))  # trailing bytes that are not gzip: text may be lost


def _inflate(data: bytes) -> tuple[bytes, bytes, bool]:
    """(text, bytes after the member, whether the member ended) of the gzip member at the start of
    ``data``; zlib.error when its data or checksum is damaged.

    A stream that stops early without damage gives a prefix of the real text. NUL padding after it (a
    crash) inflates to garbage, with or without an error: the member is then read only up to where the
    padding starts. A failed checksum is never read around: the damage may lie anywhere before it.
    """
    padded = len(data) - len(data.rstrip(b"\x00")) > 8  # a gzip trailer ends in at most 8 zero bytes
    try:
        text, after, complete = _inflate_once(data)
    except zlib.error as err:
        if not padded or "incorrect" in str(err):  # "incorrect data check": damage somewhere before
            raise
        complete = False
    if complete or not padded:
        return text, after, complete
    text, after, _ = _inflate_once(data.rstrip(b"\x00"))
    return text, after, False


def _inflate_once(data: bytes) -> tuple[bytes, bytes, bool]:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = bytearray()
    for start in range(0, len(data), CHUNK):
        text += inflater.decompress(data[start : start + CHUNK])
        if inflater.eof:
            break
    text += inflater.flush()
    return bytes(text), inflater.unused_data, inflater.eof


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """(segment, cut) for every carriage-return segment of every line; ``cut`` marks a segment whose end
    may be missing: before a run of NUL bytes, or the file's last line when it lacks its newline."""
    lines = text.split("\n")
    unterminated = not text.endswith("\n")
    for i, line in enumerate(lines):
        pieces = NUL_RUN.split(line)
        for j, piece in enumerate(pieces):
            cut = j < len(pieces) - 1 or (unterminated and i == len(lines) - 1)
            parts = piece.split("\r")
            for k, part in enumerate(parts):
                yield part, cut and k == len(parts) - 1


def _overrides(segment: str) -> dict[str, str] | None:
    """Hydra overrides of a ``main_ppo`` command line, or None when the segment is not one."""
    m = COMMAND.search(segment)
    if m is None:
        return None
    rest = segment[m.end() :]
    try:
        tokens = shlex.split(rest)
    except ValueError:  # an unbalanced quote: the line was cut
        tokens = rest.split()
    found = {}
    for token in tokens:
        o = OVERRIDE.fullmatch(token)
        if o is not None:
            found[o.group(1)] = o.group(2)
    return found or None


def _entry(item: str) -> tuple[str, float | None, str]:
    """(name, value, why): the value is None when the entry breaks a rule, and ``why`` says which."""
    name, sep, value = item.rpartition(":")
    name, value = name.strip(), value.strip()
    if not sep or not NAME.fullmatch(name):
        return item, None, "no metric name before its last ':'"
    if NUMBER.fullmatch(value):
        number = float(value)
        if not math.isfinite(number):  # 1e999
            return name, None, f"not finite ({value})"
        if is_rate(name) and not 0.0 <= number <= 1.0:
            return name, None, f"a rate outside [0, 1] ({value})"
        return name, number, ""
    if NON_FINITE.fullmatch(value):
        return name, None, f"not finite ({value})"
    return name, None, f"not a number ({value[:20]!r})"


def _read_record(step: int, body: str, cut: bool, parsed: _Parsed) -> dict[str, float]:
    """Metrics of one record's ``name:value - name:value ...`` text; entries that break a rule are
    dropped and listed in ``parsed.dropped``."""
    items = [s.strip() for s in RAY_REPEATED.sub("", body).split(" - ")]
    if items and not items[-1]:
        items.pop()
    if cut and items:  # the last entry may have lost digits: never read a shortened number
        name = items.pop().rpartition(":")[0].strip()
        parsed.dropped.append((step, name or "(cut entry)", "cut short (the text stops inside it)"))
    metrics = {}
    for item in items:
        name, number, why = _entry(item)
        if number is None:
            parsed.dropped.append((step, name[:80], why))
            continue
        metrics[name] = number
    return metrics


def parse_text(text: str) -> _Parsed:
    """One pass over a log's text: the command line's overrides, per-step metrics and the counts."""
    parsed = _Parsed(n_lines=text.count("\n") + (0 if text.endswith("\n") or not text else 1))
    for raw, cut in _segments(text):
        segment = ANSI.sub("", raw)
        if "main_ppo" in segment:
            found = _overrides(segment)
            if found is not None:
                parsed.n_command_lines += 1
                parsed.overrides = parsed.overrides if parsed.overrides is not None else found
                continue
        m = RECORD.search(segment)
        if m is None:
            continue
        step = int(m.group(1))
        metrics = _read_record(step, segment[m.end() :], cut, parsed)
        if not metrics:
            continue
        parsed.n_step_lines += 1
        if step in parsed.records:
            parsed.n_repeated_steps += 1
            parsed.records[step].update(metrics)
        else:
            parsed.records[step] = metrics
    parsed.n_skipped = len(parsed.dropped)
    return parsed


def env_name(value: str) -> str:
    """``alfworld/AlfredTWEnvOptions`` -> ``alfworld``; ``WebshopOptions`` -> ``webshop``."""
    name = value.split("/", 1)[0].strip().lower()
    return "webshop" if name.startswith("webshop") else name


def _metadata(parsed: _Parsed, meta: dict, source: str) -> dict[str, object]:
    """method, adv_estimator, env, model, seed (val_episodes when known); ``meta`` over the command line."""
    o = parsed.overrides or {}
    estimator = str(meta.get("adv_estimator") or o.get("algorithm.adv_estimator", ""))
    found: dict[str, object] = {
        "adv_estimator": estimator,
        "method": METHODS.get(estimator, estimator) if estimator else None,
        "env": env_name(o["env.env_name"]) if "env.env_name" in o else None,
        "seed": o.get("env.seed"),
        "model": o.get("actor_rollout_ref.model.path", "unknown"),
        "val_episodes": o.get("data.val_batch_size"),
    }
    found.update({k: v for k, v in meta.items() if v is not None})
    missing = [k for k in REQUIRED if found[k] in (None, "")]
    if missing:
        where = "no command line" if parsed.overrides is None else "the command line lacks them"
        raise VerlLogError(
            f"{source}: cannot tell {', '.join(missing)} ({where}); pass them, e.g. "
            + " ".join(f"--{k} VALUE" for k in missing)
        )
    for key in ("seed", "val_episodes"):
        if found[key] is None:
            continue
        try:
            found[key] = int(found[key])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise VerlLogError(f"{source}: {key} must be an integer, saw {found[key]!r}") from None
    if found["val_episodes"] is None:
        del found["val_episodes"]
    found["method"], found["env"], found["model"] = (
        str(found["method"]),
        str(found["env"]),
        str(found["model"]),
    )
    return found


def _units(name: str) -> str:
    if name.startswith("timing_s/"):
        return "s"
    if name.startswith("timing_per_token_ms/"):
        return "ms"
    return "1" if is_rate(name) else ""


def read_verl_log(path: str | Path, **meta: object) -> xr.Dataset:
    """Parse one veRL console log into a Dataset with dim ``step`` and one float variable per metric.

    ``meta`` may set ``method``, ``seed``, ``env``, ``model``, ``val_episodes`` and ``adv_estimator``; it is
    required for what a log without a command line cannot say (``method``, ``seed``, ``env``). Attributes:
    ``method`` (hgae -> hiper, gae and turn_gae -> ppo, other estimators as named), ``adv_estimator``,
    ``env``, ``model``, ``seed`` (``env.seed``), ``val_episodes`` (``data.val_batch_size``, when known),
    ``overrides`` (JSON of every Hydra override), ``source`` (file name) and the counts ``n_lines``,
    ``n_step_lines``, ``n_skipped`` (entries dropped), ``dropped`` (JSON list of ``[step, entry, why]``
    of every dropped entry), ``n_repeated_steps``, ``n_command_lines``, ``n_bad_bytes`` (undecodable or
    NUL bytes), ``truncated`` (0/1: text may be missing after ``step``'s last value).
    """
    path = Path(path)
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise VerlLogError(f"{path.name}: unknown metadata {unknown}; known: {list(META_KEYS)}")
    try:
        data, cut_stream = read_bytes(path)
    except OSError as err:
        raise VerlLogError(f"{path}: cannot read the file ({err.strerror or err})") from None
    text = data.decode("utf-8", errors="replace")
    bad_bytes = text.count("\ufffd") + text.count("\x00")
    parsed = parse_text(text)
    if not parsed.records:
        raise VerlLogError(
            f"{path.name}: no training-step record ('step:K - name:value - ...') in {parsed.n_lines} lines; "
            "is this a veRL console log?"
        )
    attrs = _metadata(parsed, meta, path.name)
    steps = np.array(sorted(parsed.records), dtype=np.int64)
    names = list(dict.fromkeys(n for s in steps for n in parsed.records[int(s)]))
    values = np.full((len(names), len(steps)), np.nan)
    index = {n: i for i, n in enumerate(names)}
    for j, s in enumerate(steps):
        for n, v in parsed.records[int(s)].items():
            values[index[n], j] = v
    ds = xr.Dataset(
        {n: ("step", values[i], {"long_name": n, "units": _units(n)}) for i, n in enumerate(names)},
        coords={"step": ("step", steps, {"long_name": "training step", "units": "steps"})},
    )
    ds.attrs = {
        **attrs,
        "overrides": json.dumps(parsed.overrides or {}, sort_keys=True),
        "source": path.name,
        "n_lines": parsed.n_lines,
        "n_step_lines": parsed.n_step_lines,
        "n_skipped": parsed.n_skipped,
        "dropped": json.dumps(parsed.dropped),
        "n_repeated_steps": parsed.n_repeated_steps,
        "n_command_lines": parsed.n_command_lines,
        "n_bad_bytes": bad_bytes,
        "truncated": int(cut_stream or (bool(text) and not text.endswith("\n"))),
    }
    return ds
