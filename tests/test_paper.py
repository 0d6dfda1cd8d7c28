"""The paper builder: every placeholder filled from pipeline files, or a clear error listing what is missing."""

import json

import pytest

from hiper_repro.paper import PLACEHOLDER, Filler, PaperError, build, format_value


@pytest.fixture
def outputs(tmp_path):
    stats, figures, tables = (tmp_path / d for d in ("stats", "figures", "tables"))
    for d in (stats, figures, tables):
        d.mkdir()
    numbers = {
        "meta.methods": ["hiper", "ppo"],
        "meta.reference": "hiper",
        "aggregate.final.iqm.hiper.estimate": 0.734,
        "aggregate.final.iqm.hiper.ci_low": 0.61,
        "aggregate.final.iqm.hiper.ci_high": 0.8,
        "speedup.hiper_over_ppo.estimate": None,
        "claims.hae_lower_variance.statement": "HAE has lower variance.",
        "claims.hae_lower_variance.verdict": "supported",
        "claims.hae_lower_variance.estimate": 0.5,
        "claims.hae_lower_variance.ci_low": 0.4,
        "claims.hae_lower_variance.ci_high": 0.6,
    }
    (stats / "numbers.json").write_text(json.dumps(numbers))
    (tables / "main_results.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    (figures / "curves.png").write_bytes(b"\x89PNG fake")
    (figures / "index.json").write_text(
        json.dumps({"drawn": ["curves"], "skipped": {"theory": "no theory run"}})
    )
    return numbers, stats, figures, tables


class TestFormatValue:
    @pytest.mark.parametrize(
        ("value", "fmt", "expected"),
        [(0.734, "pct", "73.4%"), (0.05, "pp", "+5.0 points"), (2.514, "x", "2.51x"), (7.0, "int", "7"),
         (None, "pct", "n/a"), (float("nan"), "f2", "n/a"), (["a", "b"], "str", "a, b"), ("x", "str", "x")],
    )  # fmt: skip
    def test_formats(self, value, fmt, expected):
        assert format_value(value, fmt) == expected

    def test_unknown_format_is_an_error(self):
        with pytest.raises(PaperError, match="unknown number format 'pc'"):
            format_value(0.5, "pc")


class TestFiller:
    def test_fills_every_kind(self, outputs):
        numbers, _, figures, tables = outputs
        text = (
            "{{ num aggregate.final.iqm.{ref}.estimate pct }} {{ ci aggregate.final.iqm.hiper pct }}\n"
            "{{ num speedup.{ref}_over_{base}.estimate x }}\n{{ table main_results }}\n"
            "{{ figure curves Learning curves. }}\n{{ figure theory The lab. }}\n{{ claims }}"
        )
        out = Filler(numbers, tables, figures).fill(text)
        assert not PLACEHOLDER.search(out)
        assert "73.4% [61.0%, 80.0%]" in out
        assert "n/a" in out  # the null speed-up
        assert "| 1 | 2 |" in out
        assert "data:image/png;base64," in out and "*Learning curves.*" in out
        assert "not drawn for this study: no theory run" in out
        assert "**supported**: HAE has lower variance." in out

    def test_lists_every_missing_item(self, outputs):
        numbers, _, figures, tables = outputs
        with pytest.raises(PaperError) as err:
            Filler(numbers, tables, figures).fill(
                "{{ num nope }} {{ table nope }} {{ figure nope x }} {{ bad x }}"
            )
        message = str(err.value)
        for part in ("key 'nope'", "no table", "no figure", "unknown placeholder kind 'bad'"):
            assert part in message


def test_claim_lines_state_n_and_why_a_verdict_is_inconclusive(outputs):
    numbers, _, figures, tables = outputs
    numbers = numbers | {
        "claims.sample_efficiency.statement": "Faster.",
        "claims.sample_efficiency.verdict": "inconclusive",
        "claims.sample_efficiency.ci_verdict": "supported",
        "claims.sample_efficiency.estimate": 1.56,
        "claims.sample_efficiency.ci_low": 1.56,
        "claims.sample_efficiency.ci_high": 1.56,
        "claims.sample_efficiency.n": "n = 6 hiper and 6 ppo runs",
        "claims.sample_efficiency.reason": "its interval has zero width",
        "claims.sample_efficiency.censored": "censored: 6 of 6 ppo runs never reached 80%",
    }
    out = Filler(numbers, tables, figures).claims("")
    line = next(ln for ln in out.splitlines() if "Faster." in ln)
    assert line == (
        "- **inconclusive**: Faster. Deciding estimate and 95% CI: 1.560 [1.560, 1.560]; n = 6 hiper and 6 ppo "
        "runs; inconclusive because its interval has zero width (the interval alone would read supported); "
        "censored: 6 of 6 ppo runs never reached 80%."
    )


def test_a_table_the_figures_step_skipped_is_replaced_by_its_reason(outputs):
    numbers, _, figures, tables = outputs
    (tables / "index.json").write_text(json.dumps({"skipped_tables": {"lab_ratios": "no lab dataset"}}))
    out = Filler(numbers, tables, figures).fill("{{ table lab_ratios }}")
    assert out == "*Table `lab_ratios` is not built for this study: no lab dataset.*"


def test_build_writes_markdown_and_html(outputs, tmp_path):
    _, stats, figures, tables = outputs
    manuscript = tmp_path / "m.md"
    manuscript.write_text("# Title\n\n{{ table main_results }}\n\n{{ claims }}\n")
    written = build(manuscript, stats, figures, tables, tmp_path / "build")
    html = (tmp_path / "build" / "paper.html").read_text()
    assert "<table>" in html and "<title>Title</title>" in html
    assert {p.name for p in written} >= {"paper.md", "paper.html"}


def test_shipped_manuscript_uses_only_known_placeholder_kinds():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "paper" / "manuscript.md").read_text()
    kinds = {m.group(1) for m in PLACEHOLDER.finditer(text)}
    assert kinds <= {"num", "ci", "table", "figure", "claims"}
    assert "figure" in kinds and "claims" in kinds


class TestAuthorsSection:
    """`--authors DIR`: authors.* numbers, tables and figures of `hiper-repro analyse-verl` join the paper."""

    @pytest.fixture
    def authors(self, tmp_path):
        folder = tmp_path / "authors"
        (folder / "tables").mkdir(parents=True)
        (folder / "figures").mkdir()
        (folder / "numbers.json").write_text(json.dumps({"authors.arm.main.final.estimate": 0.898}))
        (folder / "tables" / "authors_claims.md").write_text(
            "| claim | verdict |\n|---|---|\n| x | supported |\n"
        )
        (folder / "figures" / "authors_curves.png").write_bytes(b"\x89PNG fake")
        (folder / "figures" / "index.json").write_text(
            json.dumps({"drawn": [], "skipped": {"authors_t": "no timing"}})
        )
        return folder

    def test_build_reads_numbers_tables_and_figures_of_both_folders(self, outputs, authors, tmp_path):
        _, stats, figures, tables = outputs
        manuscript = tmp_path / "m.md"
        manuscript.write_text(
            "# T\n\n{{ table main_results }}\n{{ num authors.arm.main.final.estimate pct }}\n"
            "{{ table authors_claims }}\n{{ figure authors_curves Curves. }}\n{{ figure authors_t Time. }}\n"
            "{{ figure theory Lab. }}\n"
        )
        build(manuscript, stats, figures, tables, tmp_path / "build", authors)
        text = (tmp_path / "build" / "paper.md").read_text()
        assert "89.8%" in text and "| x | supported |" in text and "| 1 | 2 |" in text
        assert "*Curves.*" in text
        assert (
            "not drawn for this study: no timing" in text
            and "not drawn for this study: no theory run" in text
        )

    def test_without_the_folder_the_error_says_how_to_get_it(self, outputs, tmp_path):
        _, stats, figures, tables = outputs
        manuscript = tmp_path / "m.md"
        manuscript.write_text("{{ num authors.arm.main.final.estimate pct }}\n")
        with pytest.raises(PaperError, match="pass --authors DIR"):
            build(manuscript, stats, figures, tables, tmp_path / "build")

    def test_authors_numbers_stay_in_their_namespace(self, outputs, authors, tmp_path):
        _, stats, figures, tables = outputs
        (authors / "numbers.json").write_text(json.dumps({"meta.methods": ["x"]}))
        with pytest.raises(PaperError, match="keys outside authors"):
            build(tmp_path / "m.md", stats, figures, tables, tmp_path / "build", authors)

    def test_shipped_manuscript_has_the_section(self):
        from pathlib import Path

        text = (Path(__file__).parents[1] / "paper" / "manuscript.md").read_text()
        assert "## The authors' runs, re-analysed" in text
        section = text[text.index("## The authors' runs, re-analysed") :]
        assert "{{ table authors_claims }}" in section and "{{ figure authors_learning_curves" in section


def test_every_number_the_shipped_manuscript_quotes_is_computed(merged):
    """Each `num`/`ci` key of paper/manuscript.md (outside the authors' section) is a key of the numbers
    `hiper-repro stats` computes, so the paper can only fail to build for a study that lacks the data."""
    from pathlib import Path

    from hiper_repro.stats.report import Options, compute

    _, numbers = compute(merged, Options(reps=20, curve_reps=10, variance_reps=10))
    filler = Filler(numbers, Path("."), Path("."))
    text = (Path(__file__).parents[1] / "paper" / "manuscript.md").read_text()
    missing = []
    for m in PLACEHOLDER.finditer(text):
        kind, args = m.group(1), (m.group(2) or "").split()
        if kind not in ("num", "ci") or args[0].startswith("authors."):
            continue
        key = filler.key(args[0])
        wanted = [key] if kind == "num" else [f"{key}.ci_low", f"{key}.ci_high"]
        missing += [k for k in wanted if k not in numbers]
    assert not missing, missing
