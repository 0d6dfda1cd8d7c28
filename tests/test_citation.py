"""CITATION.cff: the keys Citation File Format 1.2.0 requires, this package's version, the HiPER paper."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_file_cites_the_package_and_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["authors"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == project["version"]
    (paper,) = cff["references"]
    assert "HiPER" in paper["title"] and paper["identifiers"][0]["value"] == "arXiv:2602.16165"
    assert all(a.get("family-names") or a.get("name") for a in [*cff["authors"], *paper["authors"]])
