"""TextWorld games that end badly or cannot be made: a loss terminates with the game's own score, a seed
without a quest moves to the next one (recorded), a cached game missing its .json is named."""

import pytest

pytest.importorskip("textworld", reason="TextWorld not installed: pip install 'hiper-repro[textworld]'")

from hiper_repro.envs import Task, make_env, make_tasks  # noqa: E402
from hiper_repro.envs import textworld_env as tw  # noqa: E402


def _task(challenge: str, horizon: int, seed: int) -> Task:
    spec = {"challenge": challenge, "horizon": horizon, "game_seed": seed}
    return Task(f"tw-{seed}", "textworld", horizon, "eval", challenge, "find the treasure", spec)


def test_a_lost_game_terminates_with_its_real_score(tmp_path):
    """treasure_hunter level 5, seed 3: taking the wrong object in the third room loses the game."""
    env = make_env("textworld", cache_dir=tmp_path)
    task = _task("tw-treasure_hunter", 5, 3)
    env.reset(task)
    plan = list(env.state.policy_commands)
    lost = None
    for t in range(len(plan)):
        env.reset(task)
        for command in plan[:t]:
            env.step(command)
        for wrong in [a for a in env.state.admissible_commands if a.startswith("take ") and a != plan[t]]:
            env.reset(task)
            for command in plan[:t]:
                env.step(command)
            _, reward, terminated, truncated, info = env.step(wrong)
            if env.state.lost:
                lost = (reward, terminated, truncated, info)
                break
        if lost:
            break
    assert lost is not None, "no losing move found: the game changed"
    reward, terminated, truncated, info = lost
    assert terminated and not truncated and not info["won"]
    assert reward == 0.0 and info["score"] == 0.0  # TextWorld's own score, not 1 - 0 / walkthrough
    assert info["expert"] is None
    env.close()


def test_a_seed_without_a_quest_moves_to_the_next_one(tmp_path):
    """tw-make finds no level-10 treasure_hunter quest for this seed (met in `hiper-repro tasks --env
    textworld --challenge tw-treasure_hunter --horizon 10 --split train --n 12`), nor for the next one."""
    spec = {"challenge": "tw-treasure_hunter", "horizon": 10, "game_seed": 572167054}
    settled = tw.settle_spec(spec, cache_dir=tmp_path)
    used = settled["game_seed"]
    assert used > spec["game_seed"] and settled == {
        **spec,
        "game_seed": used,
        "failed_game_seeds": list(range(spec["game_seed"], used)),
    }
    assert tw.game_path(settled, tmp_path).is_file()


def test_make_tasks_records_the_retried_seed(tmp_path, monkeypatch):
    """The seeds make_tasks draws are kept for the split; a failing one is replaced after the split is decided."""
    expected = make_tasks("textworld", 1, "eval", 2, cache_dir=tmp_path)
    bad = expected[1].spec["game_seed"]
    real = tw.ensure_game

    def failing(spec, cache_dir=None):
        if spec["game_seed"] == bad:
            raise tw.QuestGenerationFailed("no quest")
        return real(spec, cache_dir)

    monkeypatch.setattr(tw, "ensure_game", failing)
    got = make_tasks("textworld", 1, "eval", 2, cache_dir=tmp_path)
    assert got[0] == expected[0]
    assert got[1].spec == {**expected[1].spec, "game_seed": bad + 1, "failed_game_seeds": [bad]}


def test_a_cached_game_without_its_json_is_named(tmp_path):
    spec = {"challenge": "custom", "horizon": 1, "game_seed": 5}
    path = tw.game_path(spec, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"z8")
    with pytest.raises(ValueError, match=r"game.z8 has no game.json beside it"):
        tw.ensure_game(spec, tmp_path)
