"""Credit assignment: advantage estimators as pure functions of batch-first padded (B, T) tensors.

`mask` marks the real turns of each episode (a prefix of its row); `terminated` is True on the last
real turn of an episode that really ended. Termination is a discount of 0; truncation is not
termination and bootstraps from a caller-supplied value (else 0). Values on padded positions never
change a result. Imports nothing else from hiper_repro.
"""

from hiper_repro.credit.gae import discounted_returns, gae
from hiper_repro.credit.group import HGiGPOResult, gigpo, grpo, hgigpo, rloo
from hiper_repro.credit.hae import HAEResult, hae, segment_rewards
from hiper_repro.credit.segments import segments_from_switch
from hiper_repro.credit.switch import SwitchAdvantage, switch_advantage
from hiper_repro.credit.tokens import broadcast_to_tokens, masked_std, whiten, whiten_applicable

__all__ = [
    "HAEResult",
    "HGiGPOResult",
    "SwitchAdvantage",
    "broadcast_to_tokens",
    "discounted_returns",
    "gae",
    "gigpo",
    "grpo",
    "hgigpo",
    "hae",
    "masked_std",
    "rloo",
    "segment_rewards",
    "segments_from_switch",
    "switch_advantage",
    "whiten",
    "whiten_applicable",
]
