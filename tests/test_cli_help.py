"""Every `hiper-repro` command's help shows each option's default."""

import argparse
import importlib

import pytest

from hiper_repro.bench import TARGETS
from hiper_repro.cli import COMMANDS
from hiper_repro.cli_help import shows_default

MODULES = sorted({module for name, (module, _) in COMMANDS.items() if name != "bench"})
MODULES += sorted(module for module, _ in TARGETS.values())


class Captured(Exception):
    """Raised instead of parsing: carries the parser a command built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


@pytest.mark.parametrize("module", MODULES)
def test_help_shows_every_default(module, monkeypatch):
    try:
        main = importlib.import_module(module).main
    except ModuleNotFoundError as error:  # an optional extra the command needs
        pytest.skip(f"{module}: {error}")

    def capture(self, *args, **kwargs):
        raise Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    with pytest.raises(Captured) as got:
        main([])
    parser = got.value.parser
    formatter = parser._get_formatter()
    lacking = [
        action.option_strings[0]
        for action in parser._actions
        if shows_default(action) and "default" not in formatter._format_action(action)
    ]
    assert not lacking, f"{parser.prog}: options whose help hides the default: {lacking}"
    with_defaults = [a for a in parser._actions if shows_default(a)]
    assert not with_defaults or "(default" in parser.format_help()
    # help is read in a terminal: reStructuredText's double backticks would show as they are
    assert "``" not in parser.format_help(), f"{parser.prog}: raw double backticks in the help"


def test_version_names_the_release_and_commit(capsys):
    from pathlib import Path

    import hiper_repro
    from hiper_repro.cli import main
    from hiper_repro.traces.provenance import checkout_root

    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("hiper-repro ") and "(commit " in out
    if checkout_root(Path(hiper_repro.__file__).resolve()) is not None:  # run from a git checkout
        assert "commit unknown" not in out


def test_train_help_names_every_method_and_the_config_reference(capsys):
    from hiper_repro.train.cli import main
    from hiper_repro.train.config import METHODS

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"method.name): {', '.join(METHODS)}." in text
    assert "hiper-repro train --show-config" in text and "examples/" in text and "run.trackers" in text


def test_show_config_is_the_config_as_commented_yaml(tmp_path, capsys):
    """Every key with its docstring; the YAML loads back as the resolved config (defaults or a file)."""
    import yaml

    from hiper_repro.train.cli import main
    from hiper_repro.train.config import TrainConfig, load_config

    assert main(["--show-config"]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text) == TrainConfig().to_dict()
    assert "  # PPO ratio clip epsilon\n  clip: 0.2" in text
    (tmp_path / "c.yaml").write_text("recipe: cpu-tiny\nmethod: {name: grpo}\n")
    assert main(["--show-config", "--config", str(tmp_path / "c.yaml"), "--set", "run.seed=3"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == load_config(tmp_path / "c.yaml", ["run.seed=3"]).to_dict()
    with pytest.raises(SystemExit):  # training needs --out
        main(["--config", str(tmp_path / "c.yaml")])
    assert "--config and --out are required to train" in capsys.readouterr().err


def test_bench_train_refuses_the_old_preset_flag(capsys):
    """`bench train --preset` (the flag's old name) stops naming --recipe, before anything trains."""
    from hiper_repro.train.bench import main

    with pytest.raises(SystemExit) as stop:
        main(["--model", "m", "--preset", "smollm2"])
    assert stop.value.code == 2
    assert (
        "--preset was renamed --recipe (a training recipe): use --recipe smollm2" in capsys.readouterr().err
    )
