"""The TextWorld adapter: generated offline, cached by (challenge, horizon, seed), won by its walkthrough."""

import pytest

pytest.importorskip("textworld", reason="TextWorld not installed: pip install 'hiper-repro[textworld]'")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hiper_repro.envs import NOTHING_HAPPENS, expert_episode, make_env, make_tasks  # noqa: E402
from hiper_repro.envs.textworld_env import game_path  # noqa: E402


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tw")
    tasks = make_tasks("textworld", 2, "eval", 1, cache_dir=cache)
    return cache, tasks[0]


def test_game_is_cached_by_challenge_horizon_seed(game):
    cache, task = game
    path = game_path(task.spec, cache)
    assert path.is_file() and path.parts[-4:-1] == ("custom", "h2", f"s{task.spec['game_seed']}")
    assert task.task_type == "custom" and len(task.instruction) > 20
    mtime = path.stat().st_mtime
    assert make_tasks("textworld", 2, "eval", 1, cache_dir=cache) == [task]  # cached: no regeneration
    assert path.stat().st_mtime == mtime


def test_walkthrough_wins(game):
    cache, task = game
    env = make_env("textworld", cache_dir=cache)
    records, info = expert_episode(env, task)
    assert info["won"] and info["score"] == 1.0
    assert 1 <= len(records) <= env.max_steps
    assert all(rec.action in rec.admissible for rec in records)
    assert not any("-=" in rec.observation and "=-" in rec.observation.split()[-1] for rec in records)
    env.close()


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=30))
def test_any_string_is_a_safe_action(game, action):
    cache, task = game
    env = make_env("textworld", cache_dir=cache)
    obs = env.reset(task)
    obs2, reward, term, trunc, info = env.step(action)
    if not info["valid"]:
        assert obs2.text == NOTHING_HAPPENS and obs2.admissible == obs.admissible
    env.close()


def test_bad_challenge():
    with pytest.raises(ValueError, match="challenge must be one of"):
        make_tasks("textworld", 1, "eval", 1, challenge="nope")
