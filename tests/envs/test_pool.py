"""EnvPool: one call steps N environments; worker processes give the same results."""

import pytest

from hiper_repro.envs import EnvPool, make_env, make_tasks


def _play(pool, tasks):
    obs = pool.reset(tasks)
    texts = [[o.text] for o in obs]
    while True:
        experts = pool.experts()
        if all(e is None for e in experts):
            return texts
        results = pool.step([None if e is None else e.action for e in experts])
        for i, res in enumerate(results):
            if res is not None:
                texts[i].append(res.observation.text)
                assert res.info["valid"]


def test_pool_matches_single_envs_and_workers():
    tasks = make_tasks("household", 2, "eval", 5)
    with EnvPool("household", 6) as pool:
        local = _play(pool, tasks)
        assert pool.max_steps() == [24] * 5
    single = []
    env = make_env("household")
    for task in tasks:
        obs, run = env.reset(task), []
        run.append(obs.text)
        while (step := env.expert()) is not None:
            run.append(env.step(step.action)[0].text)
        single.append(run)
    assert local == single
    with EnvPool("household", 5, workers=2) as pool:
        assert _play(pool, tasks) == single
        with pytest.raises(RuntimeError, match="reset"):  # a finished env's error comes back from its worker
            pool.step(["garbled"] * 5)
        assert pool.reset(tasks[:1])[0].text.startswith("You are in the middle")


def test_pool_errors():
    pool = EnvPool("household", 2)
    with pytest.raises(ValueError, match="1..2 tasks"):
        pool.reset(make_tasks("household", 1, "eval", 3))
    pool.reset(make_tasks("household", 1, "eval", 1))
    with pytest.raises(ValueError, match="one entry per reset"):
        pool.step(["a", "b"])
    with pytest.raises(ValueError, match="n must be"):
        EnvPool("household", 0)
    with pytest.raises(ValueError, match="name must be one of"):
        EnvPool("nope", 1)
