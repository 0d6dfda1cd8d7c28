"""``hiper-repro paper``: fill the manuscript from pipeline outputs and build it.

The manuscript (``paper/manuscript.md``) is Markdown with four kinds of placeholder, each filled from a
file the pipeline wrote, so that no number in the paper is typed by hand (showyourwork's idea):

    {{ num KEY [FORMAT] }}     a value of stats/numbers.json; FORMAT: pct (0.734 -> 73.4%), pp (points),
                               f1, f2, f3, x (ratio, 2.51x), int, str. null renders as "n/a".
    {{ ci KEY [FORMAT] }}      "EST [LOW, HIGH]" from KEY.{estimate|mean}, KEY.ci_low, KEY.ci_high
    {{ table NAME }}           tables/NAME.md; a table the figures step skipped is replaced by a sentence
                               giving the reason it wrote in index.json
    {{ figure NAME CAPTION }}  figures/NAME.png, embedded; a figure the figures step skipped is replaced
                               by a sentence giving the reason it wrote in figures/index.json
    {{ claims }}               one line per claim of the paper: its verdict, deciding CI, n, and the reason
                               for an inconclusive verdict (see hiper_repro.stats.claims)

KEY may contain ``{ref}`` (the reference method) and ``{base}`` (the first other method in the study).
With ``--authors DIR`` (``hiper-repro analyse-verl`` output) its ``numbers.json`` (``authors.*`` keys),
``tables/`` and ``figures/`` are read too, for the section on the HiPER authors' own runs.
Any unknown key, table or figure stops the build with every problem listed: the built paper never holds an
unfilled placeholder. Output: ``OUT/paper.md`` and a self-contained ``OUT/paper.html`` (figures inlined); ``OUT/paper.pdf``
too, only when pandoc and a LaTeX engine are installed (otherwise HTML only, and the command says so).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hiper_repro.cli_help import DefaultsFormatter
from hiper_repro.io import write_atomic

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)(?:\s+(.*?))?\s*\}\}", re.DOTALL)


class PaperError(ValueError):
    """The manuscript refers to something the pipeline did not produce."""


def format_value(value: object, fmt: str = "str") -> str:
    """Render one number of numbers.json; None and NaN read "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v, fmt) for v in value)
    if fmt == "str" or isinstance(value, str | bool):
        return str(value)
    v = float(value)  # type: ignore[arg-type]
    formats = {
        "pct": lambda: f"{100 * v:.1f}%",
        "pp": lambda: f"{100 * v:+.1f} points",
        "f1": lambda: f"{v:.1f}",
        "f2": lambda: f"{v:.2f}",
        "f3": lambda: f"{v:.3f}",
        "x": lambda: f"{v:.2f}x",
        "int": lambda: f"{round(v):d}",
    }
    if fmt not in formats:
        raise PaperError(f"unknown number format {fmt!r}; known: {sorted(formats)} and str")
    return formats[fmt]()


class Filler:
    """Fills placeholders from the numbers, tables and figures of one pipeline run."""

    def __init__(self, numbers: dict, tables: Path | Sequence[Path], figures: Path | Sequence[Path]) -> None:
        """``tables`` and ``figures`` are folders (or lists of folders, searched in order)."""
        self.numbers = numbers
        self.table_dirs = [tables] if isinstance(tables, Path) else list(tables)
        self.figure_dirs = [figures] if isinstance(figures, Path) else list(figures)
        listed = numbers.get("meta.methods")
        methods = [str(m) for m in listed] if isinstance(listed, list) else []
        self.ref = str(numbers.get("meta.reference", "hiper"))
        others = [m for m in methods if m != self.ref]
        self.base = others[0] if others else self.ref
        self.skipped: dict[str, str] = {}
        self.skipped_tables: dict[str, str] = {}
        for folder in dict.fromkeys([*self.figure_dirs, *self.table_dirs]):
            index = folder / "index.json"
            data = read_json_object(index) if index.is_file() else {}
            skipped, skipped_tables = data.get("skipped", {}), data.get("skipped_tables", {})
            if not isinstance(skipped, dict) or not isinstance(skipped_tables, dict):
                raise PaperError(f"{index}: 'skipped' and 'skipped_tables' should map names to reasons")
            self.skipped.update(skipped)
            self.skipped_tables.update(skipped_tables)
        self.problems: list[str] = []

    @staticmethod
    def _find(folders: list[Path], name: str) -> Path:
        """The first ``folder/name`` that exists, else the one in the first folder (for the message)."""
        return next((d / name for d in folders if (d / name).is_file()), folders[0] / name)

    def key(self, raw: str) -> str:
        return raw.replace("{ref}", self.ref).replace("{base}", self.base)

    def lookup(self, key: str) -> object:
        if key not in self.numbers:
            self.problems.append(f"numbers.json has no key {key!r}")
            return None
        return self.numbers[key]

    def num(self, args: str) -> str:
        key, _, fmt = args.partition(" ")
        return format_value(self.lookup(self.key(key)), fmt.strip() or "str")

    def ci(self, args: str) -> str:
        key, _, fmt = args.partition(" ")
        key, fmt = self.key(key), fmt.strip() or "f2"
        est = f"{key}.estimate" if f"{key}.estimate" in self.numbers else f"{key}.mean"
        values = [self.lookup(k) for k in (est, f"{key}.ci_low", f"{key}.ci_high")]
        e, lo, hi = (format_value(v, fmt) for v in values)
        return f"{e} [{lo}, {hi}]"

    def table(self, name: str) -> str:
        path = self._find(self.table_dirs, f"{name.strip()}.md")
        if not path.is_file():
            if name.strip() in self.skipped_tables:
                return f"*Table `{name.strip()}` is not built for this study: {self.skipped_tables[name.strip()]}.*"
            self.problems.append(f"no table {path}")
            return ""
        return path.read_text(encoding="utf-8").strip()

    def figure(self, args: str) -> str:
        name, _, caption = args.partition(" ")
        path = self._find(self.figure_dirs, f"{name}.png")
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return f"![{caption.strip()}](data:image/png;base64,{data})\n\n*{caption.strip()}*"
        if name in self.skipped:
            return f"*Figure `{name}` is not drawn for this study: {self.skipped[name]}.*"
        self.problems.append(f"no figure {path} and no reason in {path.parent / 'index.json'}")
        return ""

    def claims(self, _: str) -> str:
        names = sorted(
            {k.split(".")[1] for k in self.numbers if k.startswith("claims.") and k.count(".") >= 2}
        )
        if not names:
            self.problems.append("numbers.json has no claims.* keys")
        lines = []
        for n in names:
            get = lambda f, n=n: self.numbers.get(f"claims.{n}.{f}")  # noqa: E731
            ci = f"{format_value(get('estimate'), 'f3')} [{format_value(get('ci_low'), 'f3')}, {format_value(get('ci_high'), 'f3')}]"
            parts = [f"- **{get('verdict')}**: {get('statement')} Deciding estimate and 95% CI: {ci}"]
            if get("n"):
                parts.append(str(get("n")))
            if get("reason"):
                overruled = get("ci_verdict") not in (None, "inconclusive", get("verdict"))
                parts.append(
                    f"inconclusive because {get('reason')}"
                    + (f" (the interval alone would read {get('ci_verdict')})" if overruled else "")
                )
            for extra in ("censored", "note"):
                if get(extra):
                    parts.append(str(get(extra)))
            lines.append("; ".join(parts) + ".")
        return "\n".join(lines)

    def fill(self, text: str) -> str:
        handlers = {
            "num": self.num,
            "ci": self.ci,
            "table": self.table,
            "figure": self.figure,
            "claims": self.claims,
        }

        def replace(m: re.Match) -> str:
            kind, args = m.group(1), (m.group(2) or "").strip()
            if kind not in handlers:
                self.problems.append(f"unknown placeholder kind {kind!r} in {m.group(0)!r}")
                return ""
            return handlers[kind](args)

        out = PLACEHOLDER.sub(replace, text)
        if self.problems:
            raise PaperError("the manuscript cannot be filled:\n  " + "\n  ".join(self.problems))
        return out


def to_html(markdown_text: str, title: str) -> str:
    """A standalone HTML page (tables and images inline)."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    style = (
        "body{max-width:52em;margin:2em auto;font-family:Georgia,serif;line-height:1.45;padding:0 1em}"
        "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #bbb;padding:.2em .5em}"
        "img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def read_json_object(path: Path) -> dict:
    """A JSON object from ``path``; PaperError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PaperError(f"{path}: not a JSON file ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise PaperError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_authors(folder: Path) -> dict:
    """``authors.*`` numbers of a ``hiper-repro analyse-verl`` folder; any other key is an error."""
    path = folder / "numbers.json"
    if not path.is_file():
        raise PaperError(f"no {path}: run `hiper-repro analyse-verl` first")
    numbers = read_json_object(path)
    stray = sorted(k for k in numbers if not k.startswith("authors."))
    if stray:
        raise PaperError(f"{path}: keys outside authors.*, e.g. {stray[0]!r}")
    return numbers


def build(
    manuscript: Path, stats: Path, figures: Path, tables: Path, out: Path, authors: Path | None = None
) -> list[Path]:
    """Fill ``manuscript`` and write paper.md, paper.html (and paper.pdf where pandoc+LaTeX exist)."""
    numbers_path = stats / "numbers.json"
    if not numbers_path.is_file():
        raise PaperError(f"no {numbers_path}: run `hiper-repro stats` first")
    numbers = read_json_object(numbers_path)
    table_dirs, figure_dirs = [tables], [figures]
    if authors is not None:
        numbers.update(read_authors(authors))
        table_dirs.append(authors / "tables")
        figure_dirs.append(authors / "figures")
    try:
        text = manuscript.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PaperError(f"{manuscript}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        filled = Filler(numbers, table_dirs, figure_dirs).fill(text)
    except PaperError as err:
        if authors is None and "'authors." in str(err):
            raise PaperError(
                f"{err}\n  (authors.* keys come from `hiper-repro analyse-verl`: pass --authors DIR)"
            ) from None
        raise
    title = next((ln.lstrip("# ").strip() for ln in filled.splitlines() if ln.startswith("# ")), "paper")
    written = [out / "paper.md", out / "paper.html"]
    write_atomic(written[0], filled)
    write_atomic(written[1], to_html(filled, title))
    if shutil.which("pandoc") and (shutil.which("pdflatex") or shutil.which("xelatex")):
        subprocess.run(["pandoc", str(written[0]), "-o", str(out / "paper.pdf")], check=True)
        written.append(out / "paper.pdf")
    else:
        print("paper: pandoc or LaTeX not installed: built HTML only", file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        formatter_class=DefaultsFormatter, prog="hiper-repro paper", description=__doc__.splitlines()[0]
    )
    p.add_argument("--manuscript", type=Path, default=Path("paper/manuscript.md"), help="template")
    p.add_argument("--stats", type=Path, required=True, help="folder written by hiper-repro stats")
    p.add_argument("--figures", type=Path, required=True, help="folder written by hiper-repro figures")
    p.add_argument("--tables", type=Path, required=True, help="tables folder written by hiper-repro figures")
    p.add_argument("--out", type=Path, required=True, help="build folder")
    p.add_argument(
        "--authors", type=Path, help="folder written by hiper-repro analyse-verl (the authors' runs)"
    )
    a = p.parse_args(argv)
    if not a.manuscript.is_file():
        p.error(f"--manuscript: no such file {str(a.manuscript)!r}")
    try:
        for path in build(a.manuscript, a.stats, a.figures, a.tables, a.out, a.authors):
            print(f"paper: wrote {path}")
    except PaperError as err:
        print(f"hiper-repro paper: {err}", file=sys.stderr)
        return 2
    return 0
