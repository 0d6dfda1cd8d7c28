"""Per-episode reference implementations in plain Python, written straight from HIPER.md section 3.

They share no code with hiper_repro.credit: one episode at a time, real turns only, lists of floats,
segment-level recursions spelled out as in the spec (rtilde_k, gtilde_k). The tests compare the
vectorised estimators against these.
"""

from __future__ import annotations

import math


def gae_episode(r, v, terminated, gamma, lam, last_value=None):
    """Turn-level GAE for one episode of len(r) real turns; returns (advantages, returns)."""
    n = len(r)
    boot = 0.0 if terminated or last_value is None else last_value
    adv = [0.0] * n
    running = 0.0
    for t in reversed(range(n)):
        nxt = v[t + 1] if t + 1 < n else boot
        delta = r[t] + gamma * nxt - v[t]
        running = delta + gamma * lam * (running if t + 1 < n else 0.0)
        adv[t] = running
    return adv, [a + x for a, x in zip(adv, v)]


def segments(switch, n):
    """Segment starts b_k and ends e_k of an episode with n real turns."""
    starts = [t for t in range(n) if t == 0 or switch[t]]
    ends = [b - 1 for b in starts[1:]] + [n - 1]
    return starts, ends


def hae_episode(r, vl, vh, switch, terminated, gamma, lam_low, lam_high, boot_low=None, boot_high=None):
    """HAE for one episode: (adv_low, ret_low, adv_high, ret_high) with high values at starts, else 0."""
    n = len(r)
    starts, ends = segments(switch, n)
    end_low = 0.0 if terminated or boot_low is None else boot_low
    end_high = 0.0 if terminated or boot_high is None else boot_high
    adv_low = [0.0] * n
    for k, (b, e) in enumerate(zip(starts, ends)):
        running = 0.0
        for t in range(e, b - 1, -1):
            if t < e:
                nxt = vl[t + 1]
            elif k + 1 < len(starts):
                nxt = vh[starts[k + 1]]
            else:
                nxt = end_low
            delta = r[t] + gamma * nxt - vl[t]
            running = delta + gamma * lam_low * (running if t < e else 0.0)
            adv_low[t] = running
    ret_low = [a + x for a, x in zip(adv_low, vl)]

    adv_high = [0.0] * n
    ret_high = [0.0] * n
    running = 0.0
    for k in reversed(range(len(starts))):
        b, e = starts[k], ends[k]
        rtilde = sum(gamma ** (t - b) * r[t] for t in range(b, e + 1))
        gtilde = gamma ** (e - b + 1)
        v_next = vh[starts[k + 1]] if k + 1 < len(starts) else end_high
        delta = rtilde + gtilde * v_next - vh[b]
        running = delta + gtilde * lam_high * (running if k + 1 < len(starts) else 0.0)
        adv_high[b] = running
        ret_high[b] = running + vh[b]
    return adv_low, ret_low, adv_high, ret_high


def switch_code_episode(r, vh, vterm, switch, terminated, gamma, boot_high=None):
    """Authors' code form for one episode: (advantages, targets); advantage 0 at turn 0."""
    n = len(r)
    starts, ends = segments(switch, n)
    end_high = 0.0 if terminated or boot_high is None else boot_high
    target = [0.0] * n
    for k, (b, e) in enumerate(zip(starts, ends)):
        v_next = vh[starts[k + 1]] if k + 1 < len(starts) else end_high
        for t in range(b, e + 1):
            target[t] = sum(gamma ** (s - t) * r[s] for s in range(t, e + 1)) + gamma ** (e + 1 - t) * v_next
    adv = [0.0] + [target[t] - vterm[t] for t in range(1, n)]
    return adv[:n], target


def group_mean_std(values, groups):
    """Mean and unbiased std per group label (std 0 for a group of one)."""
    out = {}
    for g in set(groups):
        xs = [x for x, h in zip(values, groups) if h == g]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
        out[g] = (mean, math.sqrt(var), len(xs))
    return out
