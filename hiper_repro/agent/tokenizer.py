"""A word-level tokenizer for tiny models, trained locally with ``tokenizers`` on environment text.

Splitting rule (the same as :func:`hiper_repro.agent.parser.normalize_text`): whitespace separates
pieces; inside a piece, runs of letters are one token and every other character (each digit, each
punctuation mark) is its own token. So any number is spelt with the ten digit tokens and decoding, which
joins tokens with single spaces, gives back a string that normalises to the original: the parser compares
actions after that normalisation, so round trips are exact where it matters.

Every format tag (``<switch>`` ... ``</action>``) is one added token, never split.
Special tokens: ``<pad>`` (id 0), ``<unk>`` (1), ``<eos>`` (2).
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from hiper_repro.agent.formats import KEEP, SWITCH, TAGS

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPLIT_PATTERN = r"[^\W\d_]+|\S"

#: Words the prompt templates and formats use, so they are in every vocabulary.
BASE_TEXT: tuple[str, ...] = (
    KEEP,
    SWITCH,
    "None",
    string.digits,
    string.punctuation,
    "task step history observation action current subgoal admissible actions think",
)


def train_word_tokenizer(texts: Iterable[str], min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """Train the word-level tokenizer on ``texts`` (plus BASE_TEXT); deterministic for equal input.

    Vocabulary order is frequency then alphabetical (the WordLevel trainer's order), so the same
    texts in any order give the same ids.
    """
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, UNK, EOS], min_frequency=min_frequency)
    # Base text is repeated so it always passes min_frequency.
    corpus = [*texts, *(BASE_TEXT * min_frequency)]
    tok.train_from_iterator(sorted(corpus), trainer)
    tok.add_tokens([AddedToken(t, single_word=False, normalized=False, special=False) for t in TAGS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, unk_token=UNK, eos_token=EOS)
