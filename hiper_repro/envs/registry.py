"""``make_env(name, **options)``: build a text environment by name; heavy engines import lazily."""

from __future__ import annotations

import inspect

from hiper_repro.envs.protocol import ENV_NAMES, TextEnv


def make_env(name: str, **options) -> TextEnv:
    """A fresh environment: ``household``, ``shop``, ``textworld`` or ``alfworld``.

    ``options`` go to the environment's constructor (e.g. ``steps_per_subtask`` for household,
    ``cache_dir`` for textworld, ``data_path`` for alfworld); an option it does not take is a ValueError
    naming it.
    """
    env_class = _env_class(name)
    accepted = set(inspect.signature(env_class).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"env {name!r} takes options {sorted(accepted)}, got unknown {unknown}")
    return env_class(**options)


def _env_class(name: str) -> type:
    if name == "household":
        from hiper_repro.envs.household import HouseholdEnv

        return HouseholdEnv
    if name == "shop":
        from hiper_repro.envs.shop import ShopEnv

        return ShopEnv
    if name == "textworld":
        from hiper_repro.envs.textworld_env import TextWorldEnv

        return TextWorldEnv
    if name == "alfworld":
        from hiper_repro.envs.alfworld_env import AlfWorldEnv

        return AlfWorldEnv
    raise ValueError(f"name must be one of {list(ENV_NAMES)}, got {name!r}")


def vocabulary(name: str) -> list[str]:
    """Every word-level token the environment's text can contain (household and shop only)."""
    if name in ("household", "alfworld"):
        from hiper_repro.envs.household import vocabulary as vocab
    elif name == "shop":
        from hiper_repro.envs.shop import vocabulary as vocab
    elif name == "textworld":
        raise ValueError("textworld has no closed vocabulary: build the tokenizer from its task files")
    else:
        raise ValueError(f"name must be one of {list(ENV_NAMES)}, got {name!r}")
    return vocab()
