"""The shop environment: search, paging, options, WebShop scoring, expert, robustness."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiper_repro.envs import NOTHING_HAPPENS, expert_episode, make_env, make_tasks
from hiper_repro.envs.shop import layout, vocabulary, words


@pytest.mark.parametrize("horizon", [1, 2, 3, 4, 5, 6])
def test_expert_solves_every_eval_task(horizon):
    env = make_env("shop")
    for task in make_tasks("shop", horizon, "eval", 60):
        records, info = expert_episode(env, task)
        assert info["won"] and info["score"] == 1.0, task.instruction
        assert len(records) == horizon + 3 <= env.max_steps
        n_options, page = layout(horizon)
        assert len(task.spec["goal"]["options"]) == n_options
        assert f"page {page} of" in records[-n_options - 2].observation  # the target's results page


def test_scoring_and_purchase_end_the_episode():
    env = make_env("shop", reward="score")
    task = make_tasks("shop", 2, "eval", 1)[0]
    env.reset(task)
    goal = task.spec["goal"]
    query = f"{goal['attribute']} {goal['type']}"
    obs, *_ = env.step(f"search[{query}]")
    assert obs.text.startswith(f"Results for {query}, page 1 of")
    env.step("click[next >]")
    target = next(it for it in task.spec["catalog"] if it["title"] == query and it["price"] <= goal["price"])
    obs, reward, term, trunc, info = env.step(f"click[{target['id']}]")
    assert obs.text.endswith("Chosen: nothing.") and info["valid"]
    obs, reward, term, trunc, info = env.step("click[buy now]")  # no option chosen: 2 of 3 criteria
    assert (
        term and not info["won"] and info["score"] == pytest.approx(2 / 3) and reward == pytest.approx(2 / 3)
    )


def test_type_mismatch_scores_a_tenth():
    env = make_env("shop")
    task = make_tasks("shop", 1, "eval", 1)[0]
    env.reset(task)
    goal = task.spec["goal"]
    item = {"title": f"{goal['attribute']} thing", "price": 0}
    assert env.score(item, dict(goal["options"])) == pytest.approx(0.1)


def test_results_paging_and_free_text_search():
    env = make_env("shop")
    env.reset(make_tasks("shop", 4, "train", 1)[0])
    obs, _, _, _, info = env.step("search[zzz qqq]")  # any query is valid; nothing matches
    assert info["valid"] and obs.text.endswith("no results.")
    assert info["expert"].action == "click[back to search]"
    obs, _, _, _, info = env.step("click[< prev]")
    assert not info["valid"] and obs.text.startswith(NOTHING_HAPPENS)


def test_random_policy_success_falls_with_horizon(random_success):
    rates = [random_success("shop", make_tasks("shop", k, "eval", 400), seed=k) for k in (1, 2, 4)]
    assert rates[0] > 0 and rates[0] > rates[1] >= rates[2]


def test_vocabulary_covers_all_text():
    vocab, env, rng = set(vocabulary()), make_env("shop"), random.Random(0)
    for task in make_tasks("shop", 4, "train", 40):
        assert set(words(task.instruction)) <= vocab
        records, _ = expert_episode(env, task, noise=0.3, rng=rng)
        for rec in records:
            assert set(words(rec.observation + " " + " ".join(rec.admissible) + " " + rec.subgoal)) <= vocab


def test_expert_is_a_function_of_what_the_prompt_shows():
    env, rng, seen = make_env("shop"), random.Random(1), {}
    for task in make_tasks("shop", 4, "train", 60):
        records, _ = expert_episode(env, task, noise=0.3, rng=rng)
        for rec in records:
            key = (task.instruction, rec.observation, tuple(rec.admissible))
            assert seen.setdefault(key, rec.expert_action) == rec.expert_action


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["search", "results", "item"]))
def test_any_string_is_a_safe_action(action, page):
    env = make_env("shop")
    task = make_tasks("shop", 2, "eval", 1)[0]
    env.reset(task)
    if page != "search":
        env.step(env.expert().action)
    if page == "item":
        env.step(env.expert().action)
        env.step(env.expert().action)
    obs, reward, term, trunc, info = env.step(action)
    assert isinstance(obs.text, str) and reward in (0.0, 1.0)


def test_step_limit_grows_by_steps_per_subtask():
    """The same option name as household and ALFWorld: base_steps + steps_per_subtask x horizon."""
    env = make_env("shop", base_steps=1, steps_per_subtask=2)
    env.reset(make_tasks("shop", 3, "eval", 1)[0])
    assert env.max_steps == 1 + 2 * 3
