"""Helpers shared by the env tests."""

import random

import pytest

from hiper_repro.envs import make_env


def _random_success(env_name: str, tasks, seed: int = 0, **options) -> float:
    """Success rate of a uniformly random admissible policy."""
    env, rng, wins = make_env(env_name, **options), random.Random(seed), 0
    for task in tasks:
        obs = env.reset(task)
        while True:
            obs, _, terminated, truncated, info = env.step(rng.choice(obs.admissible))
            if terminated or truncated:
                break
        wins += info["won"]
    return wins / len(tasks)


@pytest.fixture
def random_success():
    """The success rate of a uniformly random admissible policy: ``random_success(env, tasks, seed)``."""
    return _random_success
