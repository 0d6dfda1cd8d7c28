"""Per-episode references in plain Python, written straight from docs/METHOD.md section 3.

One episode at a time, real turns only, lists (or 1-D arrays) of floats, the segment-level recursion
spelled out as in the spec (rtilde_k, gtilde_k). They share no code with the vectorised estimators:
the credit tests compare those against these, and `hiper-repro bench credit` times these as its loop
baseline. Each runs in one backward pass, O(episode length).
"""

from __future__ import annotations

from collections.abc import Sequence


def gae_episode(
    r: Sequence[float],
    v: Sequence[float],
    terminated: bool,
    gamma: float,
    lam: float,
    last_value: float | None = None,
) -> tuple[list[float], list[float]]:
    """Turn-level GAE for one episode of len(r) real turns; returns (advantages, returns)."""
    n = len(r)
    nxt = 0.0 if terminated or last_value is None else last_value  # V(s_n): the bootstrap
    adv = [0.0] * n
    running = 0.0
    for t in reversed(range(n)):
        running = r[t] + gamma * nxt - v[t] + gamma * lam * running
        adv[t] = running
        nxt = v[t]
    return adv, [a + x for a, x in zip(adv, v)]


def segments(switch: Sequence[bool], n: int) -> tuple[list[int], list[int]]:
    """Segment starts b_k and ends e_k of an episode with n real turns (turn 0 always starts one)."""
    starts = [t for t in range(n) if t == 0 or switch[t]]
    ends = [b - 1 for b in starts[1:]] + [n - 1]
    return starts, ends


def hae_episode(
    r: Sequence[float],
    vl: Sequence[float],
    vh: Sequence[float],
    switch: Sequence[bool],
    terminated: bool,
    gamma: float,
    lam_low: float,
    lam_high: float,
    boot_low: float | None = None,
    boot_high: float | None = None,
    lam_boundary: float = 0.0,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """HAE for one episode: (adv_low, ret_low, adv_high, ret_high), the high level at starts, else 0.

    At the end e_k of a segment followed by another, the low level bootstraps from
    V_high(s_{b_{k+1}}) + lam_boundary * A_high_{k+1} = (1 - l) V_high + l R_high_{k+1} (0: the paper's
    HAE); after the last segment from 0 (terminated) or boot_low (truncated), whatever lam_boundary."""
    n = len(r)
    starts, ends = segments(switch, n)
    end_low = 0.0 if terminated or boot_low is None else boot_low
    end_high = 0.0 if terminated or boot_high is None else boot_high
    adv_low, adv_high, ret_high = [0.0] * n, [0.0] * n, [0.0] * n
    a_high = 0.0  # A_high_{k+1}; A_high_K := 0
    for k in reversed(range(len(starts))):
        b, e = starts[k], ends[k]
        following = k + 1 < len(starts)
        v_next = vh[starts[k + 1]] if following else end_high  # V'_{k+1}
        # Low level: GAE inside the segment, bootstrapping at its end from V_high(s_{b_{k+1}}) plus
        # lam_boundary times A_high_{k+1} (a_high still holds segment k+1's advantage here).
        nxt = vh[starts[k + 1]] + lam_boundary * a_high if following else end_low
        a_low = 0.0
        rtilde = 0.0  # sum_{t=b}^{e} gamma^(t - b) r_t, accumulated backwards
        for t in range(e, b - 1, -1):
            a_low = r[t] + gamma * nxt - vl[t] + gamma * lam_low * a_low
            adv_low[t] = a_low
            rtilde = r[t] + gamma * rtilde
            nxt = vl[t]
        gtilde = gamma ** (e - b + 1)
        a_high = rtilde + gtilde * v_next - vh[b] + gtilde * lam_high * a_high
        adv_high[b] = a_high
        ret_high[b] = a_high + vh[b]
    return adv_low, [a + x for a, x in zip(adv_low, vl)], adv_high, ret_high


def switch_code_episode(
    r: Sequence[float],
    vh: Sequence[float],
    vterm: Sequence[float],
    switch: Sequence[bool],
    terminated: bool,
    gamma: float,
    boot_high: float | None = None,
) -> tuple[list[float], list[float]]:
    """Authors' code form of the switch advantage for one episode: (advantages, targets); 0 at turn 0."""
    n = len(r)
    starts, ends = segments(switch, n)
    end_high = 0.0 if terminated or boot_high is None else boot_high
    target = [0.0] * n
    for k, (b, e) in enumerate(zip(starts, ends)):
        running = vh[starts[k + 1]] if k + 1 < len(starts) else end_high  # V'_{k+1}
        for t in range(e, b - 1, -1):
            running = r[t] + gamma * running
            target[t] = running
    adv = [0.0] + [target[t] - vterm[t] for t in range(1, n)]
    return adv[:n], target


def _norm_groups(values: dict, normalize_std: bool, eps: float) -> dict:
    """anchor -> list of ((i, t), x) ==> (i, t) -> (x - mean) / (std + eps) (or x - mean); 0 for a singleton."""
    out = {}
    for members in values.values():
        xs = [x for _, x in members]
        n = len(xs)
        mean = sum(xs) / n
        std = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5 if n > 1 else 0.0
        for pos, x in members:
            if n == 1:
                out[pos] = 0.0
            elif not normalize_std:
                out[pos] = x - mean
            else:
                out[pos] = (x - mean) / (std + eps) if std + eps > 0 else 0.0
    return out


def hgigpo_episodes(
    episode_returns: Sequence[float],
    group_ids: Sequence[int],
    step_returns: Sequence[Sequence[float]],
    state_keys: Sequence[Sequence[int]],
    subgoal_keys: Sequence[Sequence[int]],
    switch: Sequence[Sequence[bool]],
    lengths: Sequence[int],
    step_weight: float,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> tuple[list[list[float]], list[list[float]], list[list[float]]]:
    """HGiGPO episode by episode, turn by turn (docs/METHOD.md section 3): (action, subgoal, switch) rows.

    Anchor groups are dicts keyed by (group, state, ...) tuples; each output row has lengths[i] entries
    and 0 where the block makes no decision (subgoal: not a segment start; switch: turn 0).
    """
    n = len(episode_returns)
    groups: dict = {}
    for i in range(n):
        groups.setdefault(group_ids[i], []).append(((i, 0), episode_returns[i]))
    a_e = {i: v for (i, _), v in _norm_groups(groups, normalize_std, eps).items()}
    action, subgoal, decision = {}, {}, {}
    for i in range(n):
        g = group_ids[i]
        for t in range(lengths[i]):
            x, s = step_returns[i][t], state_keys[i][t]
            action.setdefault((g, s, subgoal_keys[i][t]), []).append(((i, t), x))
            if t == 0 or switch[i][t]:
                subgoal.setdefault((g, s), []).append(((i, t), x))
            if t >= 1:
                decision.setdefault((g, s, subgoal_keys[i][t - 1]), []).append(((i, t), x))
    outputs = []
    for anchors, applies in (
        (action, lambda i, t: True),
        (subgoal, lambda i, t: t == 0 or switch[i][t]),
        (decision, lambda i, t: t >= 1),
    ):
        norm = _norm_groups(anchors, normalize_std, eps)
        outputs.append(
            [
                [a_e[i] + step_weight * norm[(i, t)] if applies(i, t) else 0.0 for t in range(lengths[i])]
                for i in range(n)
            ]
        )
    return outputs[0], outputs[1], outputs[2]
