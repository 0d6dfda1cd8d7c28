"""Token losses: hand-computed values, masks, and the DDP normaliser contract."""

import math

import pytest
import torch

from hiper_repro.train.losses import (
    clipped_value_loss,
    entropy_from_logits,
    k3_terms,
    kl_k3,
    ppo_clip_loss,
    token_mean,
)


class TestPPOClip:
    def test_ratio_one_is_minus_mean_advantage(self):
        lp = torch.tensor([-1.0, -2.0, -0.5])
        adv = torch.tensor([1.0, -2.0, 3.0])
        mask = torch.tensor([True, True, False])
        loss, frac, kl = ppo_clip_loss(lp, lp.clone(), adv, mask)
        assert loss.item() == pytest.approx(-(1.0 - 2.0) / 2)
        assert frac.item() == 0.0 and kl.item() == 0.0

    def test_clipping_hand_values(self):
        # ratio 1.5 with A=+1 clips to 1.2; ratio 0.5 with A=-1 clips to 0.8 -> -min(-0.5, -0.8) = 0.8
        old = torch.zeros(2)
        lp = torch.log(torch.tensor([1.5, 0.5]))
        adv = torch.tensor([1.0, -1.0])
        loss, frac, _ = ppo_clip_loss(lp, old, adv, torch.ones(2, dtype=torch.bool), clip=0.2)
        assert loss.item() == pytest.approx((-1.2 + 0.8) / 2)
        assert frac.item() == 1.0

    def test_masked_nan_does_not_leak(self):
        lp = torch.tensor([-1.0, float("nan")], requires_grad=True)
        adv = torch.tensor([1.0, float("nan")])
        loss, _, _ = ppo_clip_loss(lp, torch.tensor([-1.0, 0.0]), adv, torch.tensor([True, False]))
        loss.backward()
        assert math.isfinite(loss.item()) and torch.isfinite(lp.grad).all()
        assert lp.grad[1].item() == 0.0

    def test_denominator_override(self):
        lp = torch.zeros(4)
        adv = torch.ones(4)
        mask = torch.ones(4, dtype=torch.bool)
        loss, _, _ = ppo_clip_loss(lp, lp, adv, mask, denom=8.0)
        assert loss.item() == pytest.approx(-0.5)

    def test_shape_mismatch_names_argument(self):
        with pytest.raises(ValueError, match="advantages"):
            ppo_clip_loss(torch.zeros(3), torch.zeros(3), torch.zeros(2), torch.ones(3, dtype=torch.bool))


class TestKL:
    def test_zero_at_equal_and_matches_formula(self):
        lp = torch.tensor([-1.0, -2.0])
        mask = torch.ones(2, dtype=torch.bool)
        assert kl_k3(lp, lp, mask).item() == 0.0
        ref = torch.tensor([-1.5, -1.0])
        x = ref - lp
        expected = (torch.exp(x) - x - 1).mean().item()
        assert kl_k3(lp, ref, mask).item() == pytest.approx(expected)
        assert expected > 0

    def test_never_negative_when_policies_nearly_agree(self):
        # exp(x) - x - 1 rounds below 0 in float32 for about one in ten |x| ~ 1e-4; the trace schema then
        # rejects the run's kl_ref. Summed, not averaged, so one negative token would show.
        g = torch.Generator().manual_seed(0)
        lp = -torch.rand(100_000, generator=g)
        ref = lp + 1e-4 * torch.randn(100_000, generator=g)
        mask = torch.ones_like(lp, dtype=torch.bool)
        assert ((torch.exp(ref - lp) - (ref - lp) - 1) < 0).any()  # the naive formula does go negative
        assert (k3_terms(ref - lp) >= 0).all()
        assert kl_k3(lp, ref, mask, denom=1.0).item() >= 0.0

    def test_unbiased_for_true_kl(self):
        # E_{x~p}[k3] = KL(p || q) for categorical p, q.
        g = torch.Generator().manual_seed(0)
        p = torch.tensor([0.6, 0.3, 0.1])
        q = torch.tensor([0.2, 0.5, 0.3])
        x = torch.multinomial(p, 200_000, replacement=True, generator=g)
        est = kl_k3(p.log()[x], q.log()[x], torch.ones_like(x, dtype=torch.bool)).item()
        true = (p * (p / q).log()).sum().item()
        assert est == pytest.approx(true, abs=0.01)


class TestEntropy:
    def test_uniform_and_onehot(self):
        logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
        h = entropy_from_logits(logits)
        assert h[0].item() == pytest.approx(math.log(4))
        assert h[1].item() == pytest.approx(0.0, abs=1e-6)

    def test_token_mean(self):
        assert token_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([True, True, False])).item() == 2.0


class TestValueLoss:
    def test_hand_values(self):
        v = torch.tensor([1.0, 0.0])
        old = torch.tensor([0.0, 0.0])
        ret = torch.tensor([0.0, 1.0])
        loss, frac = clipped_value_loss(v, old, ret, torch.ones(2, dtype=torch.bool), clip=0.5)
        # entry 0: v=1 clipped to 0.5: max(1, 0.25) = 1; entry 1: max(1, 1) = 1 -> 0.5 * mean = 0.5
        assert loss.item() == pytest.approx(0.5)
        assert frac.item() == 0.0

    def test_clipped_term_is_pessimistic(self):
        # v moved 0.9 towards a target at 2: clipped prediction 0.5 has the larger error (2.25 > 1.21)
        v = torch.tensor([0.9])
        loss, frac = clipped_value_loss(
            v, torch.tensor([0.0]), torch.tensor([2.0]), torch.ones(1, dtype=torch.bool), clip=0.5
        )
        assert loss.item() == pytest.approx(0.5 * 2.25) and frac.item() == 1.0
