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
