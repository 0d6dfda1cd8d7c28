"""YAML as the package reads its config files: safe loading that refuses a key given twice in a mapping.

PyYAML keeps the last of two equal keys and drops the first without a word, so a config with ``ppo:``
twice silently loses the first block. `safe_load` raises `DuplicateKeyError` (a ``yaml.YAMLError``,
so callers that report YAML errors report it too) naming the key and both lines. Merge keys (``<<``)
may still be overridden by keys written out, as YAML intends.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ConstructorError):
    """A mapping gives one key twice; ``problem`` names the key and both lines (1-based)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse repeated keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                continue
            if first is not None:
                raise DuplicateKeyError(
                    None, None, f"key {key!r} is given twice, on lines {first} and {line} (the first would be "
                    "dropped)", key_node.start_mark,
                )  # fmt: skip
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` that raises `DuplicateKeyError` on a key given twice in one mapping."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
