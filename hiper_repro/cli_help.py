"""Help text of every `hiper-repro` command: each option's default is shown beside its help.

argparse's own ``ArgumentDefaultsHelpFormatter`` shows a default only for options that have help text and
prints ``(default: None)`` for options that have none; :class:`DefaultsFormatter` shows every real default
(also on options without help) and nothing for required options or options without a default.
"""

from __future__ import annotations

import argparse
import copy


def shows_default(action: argparse.Action) -> bool:
    """An optional argument whose default a user relies on when leaving it out."""
    return (
        bool(action.option_strings)
        and not action.required
        and action.default not in (None, argparse.SUPPRESS)
        and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
    )


class DefaultsFormatter(argparse.HelpFormatter):
    """``(default: X)`` after the help of every option that has a default, unless its help gives it already
    ("(default 1024)", "(default: quick)"). Descriptions come from module docstrings, written for Python
    readers with reStructuredText's double backticks; a terminal shows them as single ones (`x`)."""

    def format_help(self) -> str:
        return super().format_help().replace("``", "`")

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Wrap without breaking at hyphens: method names such as ppo-pe-keep stay whole."""
        import textwrap

        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.fill(
            text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
        )

    def _format_action(self, action: argparse.Action) -> str:
        said = any(k in (action.help or "") for k in ("%(default)", "(default", "default:"))
        if shows_default(action) and not said:
            action = copy.copy(action)
            action.help = f"{action.help or ''} (default: %(default)s)".strip()
        return super()._format_action(action)
