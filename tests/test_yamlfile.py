"""Config files with a key given twice are refused, naming the key and both lines: PyYAML would keep the
second and drop the first without a word (the QA's case: `ppo:` twice lost lr 0.5)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from test_cli_fuzz import FUZZ, yaml_values

from hiper_repro.cli import main
from hiper_repro.yamlfile import DuplicateKeyError, safe_load


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [("ppo:\n  lr: 0.5\nrun: {}\nppo:\n  clip: 0.2\n", "'ppo'", (1, 4)),
     ("ppo: {lr: 0.5, lr: 0.1}\n", "'lr'", (1, 1)),
     ("a:\n  b:\n    c: 1\n    c: 2\n", "'c'", (3, 4)),
     ("1: x\n1.0: y\n", "1.0", (1, 2)),
     ("- {x: 1}\n- {y: 1, y: 2}\n", "'y'", (2, 2))],
    ids=["section", "flow", "nested", "equal-numbers", "in-a-list"],
)  # fmt: skip
def test_a_key_given_twice_is_named_with_both_lines(text, key, lines):
    with pytest.raises(DuplicateKeyError) as info:
        safe_load(text)
    assert info.value.problem.startswith(f"key {key} is given twice, on lines {lines[0]} and {lines[1]}")
    assert isinstance(info.value, yaml.YAMLError)


def test_merge_keys_may_still_be_overridden():
    assert safe_load("base: &b {lr: 1, clip: 2}\nppo: {<<: *b, lr: 3}\n")["ppo"] == {"lr": 3, "clip": 2}


@FUZZ
@given(value=yaml_values)
def test_anything_without_repeated_keys_loads_as_pyyaml_loads_it(value):
    text = yaml.safe_dump(value, allow_unicode=True)
    assert safe_load(text) == yaml.safe_load(text) or value != value  # NaN is never equal to itself


def test_train_refuses_a_config_that_repeats_a_section(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("ppo:\n  lr: 0.5\nmodel: {path: m}\nppo:\n  clip: 0.2\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"hiper-repro train: config file {config}: not valid YAML (key 'ppo' is given twice, on lines 1 and 4 "
        "(the first would be dropped) at line 4, column 1)\n"
    )
    assert not (tmp_path / "out").exists()


def test_warmstart_refuses_it_too(tmp_path, capsys):
    config = tmp_path / "w.yaml"
    config.write_text("epochs: 1\nepochs: 2\n")
    assert main(["warmstart", "--config", str(config), "--out", str(tmp_path / "w")]) == 2
    assert "key 'epochs' is given twice, on lines 1 and 2" in capsys.readouterr().err
