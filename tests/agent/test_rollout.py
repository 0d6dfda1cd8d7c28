"""Rollout: block ids and value positions on a hand-made reply, batched == per-episode, rollout == score_turns."""

from __future__ import annotations

import pytest
import torch

from hiper_repro.agent.formats import BLOCK_ACTION, BLOCK_SUBGOAL, BLOCK_SWITCH
from hiper_repro.agent.generation import GenerationConfig, generate
from hiper_repro.agent.parser import parse_response
from hiper_repro.agent.policy import Policy, PolicyConfig
from hiper_repro.agent.rollout import TurnTokens, rollout, token_blocks
from hiper_repro.agent.scoring import reference_logprobs, score_turns
from hiper_repro.envs import EnvPool, make_tasks

REPLY = "<switch>SWITCH</switch> <subgoal>find egg 2</subgoal> <action>go to fridge 1</action>"


@pytest.fixture(scope="module")
def policy(tiny_base):
    p = Policy.load(tiny_base, PolicyConfig(heads=("low", "high", "term"), head_hidden=8))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for w in p.heads.parameters():
            w.copy_(torch.randn(w.shape, generator=g) * 0.3)
    return p


def _hand_made_turn(policy):
    tok = policy.tokenizer
    prompt = tok.encode(
        "task : cool egg 2 . step 1 observation : You are in the room .", add_special_tokens=False
    )
    response = torch.tensor(tok.encode(REPLY, add_special_tokens=False))
    parsed = parse_response(tok.decode(response.tolist()), "plan_execute", ["go to fridge 1"])
    block, v_pos, s_pos = token_blocks(tok, response, parsed)
    return prompt, response, parsed, block, v_pos, s_pos


class TestReadPositions:
    def test_blocks_and_positions_on_hand_made_reply(self, policy):
        _, response, parsed, block, v_pos, s_pos = _hand_made_turn(policy)
        assert parsed.valid
        tokens = policy.tokenizer.convert_ids_to_tokens(response.tolist())
        assert tokens[v_pos] == "</subgoal>" and tokens[s_pos] == "SWITCH"
        expected = [BLOCK_SWITCH] * 3 + [BLOCK_SUBGOAL] * 5 + [BLOCK_ACTION] * 6
        assert block.tolist() == expected

    def test_score_turns_reads_values_where_specified(self, policy):
        prompt, response, _, block, v_pos, s_pos = _hand_made_turn(policy)
        turn = TurnTokens(
            0, 0, torch.tensor(prompt), response, torch.zeros(len(response)), block, v_pos, s_pos
        )
        other = TurnTokens(1, 0, torch.tensor(prompt[:5]), response[:4], torch.zeros(4), block[:4], -1, 1)
        with torch.no_grad():
            scores = score_turns(policy, [turn, other], policy.pad_id)
            seq = torch.tensor([prompt + response.tolist()])
            h, _ = policy.hidden(seq, torch.ones_like(seq))
            v = policy.values(h[0])
            p = len(prompt)
            assert torch.allclose(scores.value_low[0], v[p + v_pos, 0], atol=1e-5)
            assert torch.allclose(scores.value_high[0], v[p - 1, 1], atol=1e-5)
            assert torch.allclose(scores.value_term[0], v[p - 1, 2], atol=1e-5)
            assert torch.allclose(scores.value_low_prev[0], v[p - 1, 0], atol=1e-5)
            probs = torch.softmax(policy.logits(h[0, p + s_pos - 1]), -1)
            beta = probs[policy.switch_id] / (probs[policy.switch_id] + probs[policy.keep_id])
            assert torch.allclose(scores.switch_prob[0], beta, atol=1e-5)
            logp = torch.log_softmax(policy.logits(h[0, p - 1 : p - 1 + len(response)]), -1)
            assert torch.allclose(scores.logprobs[0], logp.gather(-1, response[:, None])[:, 0], atol=1e-5)
        # The short second turn: padding is masked and V_low falls back to the prompt end.
        assert scores.mask[1].tolist() == [True] * 4 + [False] * (len(response) - 4)
        assert scores.logprobs[1, 4:].eq(0).all()
        with torch.no_grad():
            seq2 = torch.tensor([prompt[:5]])
            v2 = policy.values(policy.hidden(seq2, torch.ones_like(seq2))[0][0])
        assert torch.allclose(scores.value_low[1], v2[-1, 0], atol=1e-5)

    def test_generation_values_are_read_after_each_token(self, policy):
        prompt = policy.tokenizer.encode("task : cool egg 2 . step 1", add_special_tokens=False)
        out = generate(policy, [prompt, prompt[:4]], GenerationConfig(max_new_tokens=6, temperature=0.0))
        for row, pr in enumerate([prompt, prompt[:4]]):
            seq = torch.tensor([pr + out.response_ids[row].tolist()])
            with torch.no_grad():
                v = policy.values(policy.hidden(seq, torch.ones_like(seq))[0][0])
            assert torch.allclose(out.prompt_values[row], v[len(pr) - 1], atol=1e-5)
            assert torch.allclose(out.token_values[row], v[len(pr) :], atol=1e-5)


def _play(policy, tasks, fmt="plan_execute", temperature=0.0, max_turns=3, seed=0):
    with EnvPool("household", len(tasks)) as pool:
        cfg = GenerationConfig(max_new_tokens=10, temperature=temperature, max_turns=max_turns)
        return rollout(policy, policy.tokenizer, pool, tasks, fmt, cfg, torch.Generator().manual_seed(seed))


class TestRollout:
    def test_batched_equals_per_episode_greedy(self, policy):
        tasks = make_tasks("household", 1, "train", 2, 0) + make_tasks("household", 2, "train", 2, 0)
        together = _play(policy, tasks)
        for b, task in enumerate(tasks):
            alone = _play(policy, [task])
            assert alone.responses[0] == together.responses[b]
            assert alone.actions[0] == together.actions[b]
            n = int(alone.length[0])
            for key in ("value_low", "value_high", "value_term", "value_low_prev", "switch_prob", "rewards"):
                assert torch.allclose(getattr(alone, key)[0, :n], getattr(together, key)[b, :n], atol=1e-5), (
                    key
                )
            mine = [t for t in together.turns if t.b == b]
            for t_alone, t_batch in zip(alone.turns, mine):
                assert torch.equal(t_alone.response_ids, t_batch.response_ids)
                assert torch.allclose(t_alone.logprobs, t_batch.logprobs, atol=1e-5)

    def test_rollout_agrees_with_score_turns(self, policy):
        ro = _play(policy, make_tasks("household", 1, "train", 3, 0), temperature=1.0, seed=3)
        with torch.no_grad():
            scores = score_turns(policy, ro.turns, policy.pad_id)
        lp = torch.nn.utils.rnn.pad_sequence([t.logprobs for t in ro.turns], batch_first=True)
        assert torch.allclose(scores.logprobs[:, : lp.shape[1]], lp, atol=1e-4)
        bt = (torch.tensor([t.b for t in ro.turns]), torch.tensor([t.t for t in ro.turns]))
        for key in ("value_low", "value_high", "value_term", "value_low_prev", "switch_prob"):
            assert torch.allclose(getattr(scores, key), getattr(ro, key)[bt], atol=1e-4), key
        assert [(t.b, t.t) for t in ro.turns] == sorted((t.b, t.t) for t in ro.turns)
        policy.attach_frozen_reference()
        assert torch.allclose(reference_logprobs(policy, ro.turns, policy.pad_id), scores.logprobs, atol=1e-5)

    def test_same_seed_same_rollout_when_sampling(self, policy):
        tasks = make_tasks("household", 1, "train", 2, 0)
        a, b = _play(policy, tasks, temperature=1.0, seed=5), _play(policy, tasks, temperature=1.0, seed=5)
        assert a.responses == b.responses
        assert torch.equal(a.value_low, b.value_low)

    def test_episodes_end_at_their_own_limits(self, policy):
        tasks = make_tasks("household", 1, "train", 1, 0) + make_tasks("household", 2, "train", 1, 0)
        with EnvPool("household", 2) as pool:
            limits = (pool.reset(tasks), pool.max_steps())[1]
        ro = _play(policy, tasks, max_turns=None)
        # An untrained model never wins: both run to their step limits and are truncated.
        assert ro.length.tolist() == limits and ro.truncated.all() and not ro.won.any()
        assert ro.mask.sum(1).tolist() == limits and ro.mask[0, limits[0] :].eq(False).all()
        assert len(ro.turns) == sum(limits)
        assert ro.switch[:, 0].all() and not ro.terminated.any()
        assert ro.invalid_reasons[0][0] != "" and not ro.valid[ro.mask].any()
        assert len(set(ro.group_ids.tolist())) == 2

    def test_flat_format_fields(self, tiny_base):
        flat = Policy.load(tiny_base, PolicyConfig(fmt="flat", heads=("low",)))
        ro = _play(flat, make_tasks("household", 1, "train", 2, 0), fmt="flat")
        assert torch.isnan(ro.value_high[ro.mask]).all() and torch.isnan(ro.switch_prob[ro.mask]).all()
        assert not ro.switch.any() and torch.isfinite(ro.value_low[ro.mask]).all()
        assert all(t.value_low_pos == -1 for t in ro.turns)

    def test_bad_arguments_are_clear_errors(self, policy):
        tasks = make_tasks("household", 1, "train", 3, 0)
        with EnvPool("household", 2) as pool, pytest.raises(ValueError, match="pool size"):
            rollout(policy, policy.tokenizer, pool, tasks, "plan_execute", GenerationConfig())
        with pytest.raises(ValueError, match="max_new_tokens"):
            GenerationConfig(max_new_tokens=0)
