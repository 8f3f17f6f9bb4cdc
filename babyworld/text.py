"""What the baby hears: a fixed word-level tokenizer, independent of the parent's own tokenizer.

The baby must not inherit a pretrained model's vocabulary, and every parent (LLM or scripted) must
produce observations in the same space. Words of the world and common function words get their own
ids; any other word lands in one of a fixed number of hash buckets (CRC32, stable across processes).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from babyworld.world import COLORS, SHAPES

PAD_ID = 0
_FUNCTION_WORDS = (
    "a an the this that it is are was no not yes good job well done thank thanks you me my i"
    " your to for of and or with on in can give hand want wanted please what which where who color"
    " called name thing toy look find show tell say said oh wow great right wrong sweetie darling"
    " baby here there now one again try mom"
).split()
_PUNCTUATION = ("?", "!", ".", ",", "'", '"')
_MEMO_SIZE = 4096  # texts whose ids a tokenizer remembers (then it starts over)
#: Memos of the tokenizers, one per vocabulary (vocab_size, known words): text -> ids, and
#: (text, length) -> encode_fixed's answer (read-only; callers get copies).
_MEMOS: dict[tuple[int, tuple[str, ...]], dict[str, tuple[int, ...]]] = {}
_FIXED_MEMOS: dict[tuple[int, tuple[str, ...]], dict] = {}
_WORD_RE = re.compile(r"[a-z]+|[0-9]+|[?!.,'\"]")


class WordTokenizer:
    """Lower-cased word tokenizer with a closed vocabulary plus hashed buckets.

    Ids: 0 is padding, then the known words (world words, function words, punctuation), then
    ``vocab_size - 1 - n_known`` hash buckets for anything else.
    """

    def __init__(self, vocab_size: int = 256, extra_words: Sequence[str] = ()) -> None:
        known = list(
            dict.fromkeys([*COLORS, *SHAPES, *_FUNCTION_WORDS, *_PUNCTUATION, *extra_words])
        )
        n_buckets = vocab_size - 1 - len(known)
        if n_buckets < 1:
            raise ValueError(
                f"vocab_size={vocab_size} leaves no hash bucket for {len(known)} known words; "
                f"use at least {len(known) + 2}"
            )
        self.vocab_size = vocab_size
        self.known = tuple(known)
        self._ids = {w: i + 1 for i, w in enumerate(known)}
        self._n_buckets = n_buckets
        # Heard texts repeat (across envs too): tokenizers of one vocabulary share their memo.
        self._memo: dict[str, tuple[int, ...]] = _MEMOS.setdefault((vocab_size, self.known), {})
        self._fixed: dict[tuple[str, int], tuple[np.ndarray, int, bool]] = _FIXED_MEMOS.setdefault(
            (vocab_size, self.known), {}
        )

    @staticmethod
    def words(text: str) -> list[str]:
        """Split text into lower-cased words and punctuation marks."""
        return _WORD_RE.findall(text.lower())

    def token_id(self, word: str) -> int:
        """Id of one word: its own id if known, else its hash bucket."""
        known = self._ids.get(word)
        if known is not None:
            return known
        return 1 + len(self.known) + zlib.crc32(word.encode()) % self._n_buckets

    def encode(self, text: str) -> list[int]:
        """Token ids of a text (no padding, no truncation)."""
        ids = self._memo.get(text)
        if ids is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            ids = self._memo[text] = tuple(self.token_id(w) for w in self.words(text))
        return list(ids)

    def encode_fixed(self, text: str, length: int) -> tuple[np.ndarray, int, bool]:
        """Ids padded with ``PAD_ID`` to ``length``.

        Returns:
            ``(ids [length] int64, number of real tokens, whether the text was cut)``. Texts longer
            than ``length`` keep their *last* ``length`` tokens, the most recent speech.
        """
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        hit = self._fixed.get((text, length))
        if hit is None:
            ids = self.encode(text)
            cut = len(ids) > length
            ids = ids[-length:]
            out = np.full(length, PAD_ID, dtype=np.int64)
            out[: len(ids)] = ids
            out.flags.writeable = False
            if len(self._fixed) >= _MEMO_SIZE:
                self._fixed.clear()
            hit = self._fixed[(text, length)] = (out, len(ids), cut)
        return hit[0].copy(), hit[1], hit[2]
