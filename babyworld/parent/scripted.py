"""A scripted parent: templates and a word-copy language model, no LLM.

Labelled ``scripted`` everywhere it appears. It exists for unit tests and speed baselines; it is
never the default parent of a real experiment.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from typing import Any

import numpy as np

from babyworld.parent.base import DEFAULT_CACHE_BYTES, Parent, Prompt, StoreSetting
from babyworld.text import WordTokenizer

#: Templates per prompt kind; fields come from the structured :class:`Prompt`.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "ask_for": ("Give me the {object}, please.", "Can you hand me the {object}?"),
    "react_fetch": ("{verdict} That is the {got}.",),
    "ask_name": ("What is this called?", "Look! What is it?"),
    "ask_color": ("What color is this?", "Which color is it?"),
    "react_name": ("{verdict} It is {answer_phrase}.",),
    "ask_need": ("What do you want, sweetie?", "Which toy do you want?"),
    "react_request": ("{given_phrase}",),
    "chat_open": ("{example}",),
    "chat_reply": ("{reply_phrase}",),
    "not_understood": ("Hmm? I don't understand.", "I don't know what you mean."),
}
_VERDICT = {"right": "Yes, well done!", "wrong": "No."}
#: Version of the scripted parent's answering code (part of its answer-store key).
SCRIPTED_VERSION = 1


class ScriptedParent(Parent):
    """Template generation and a copy-or-uniform word model for scoring (no LLM).

    Scoring model, per word ``w`` of the continuation (words as split by
    :class:`~babyworld.text.WordTokenizer`):
    ``p(w | context) = copy * [w in context] / |set(context words)| + (1 - copy) / V``
    with ``V`` = ``vocab_size``. Words named by the context become likely, so calibrated judgement
    and noisy-channel interpretation behave sensibly on babyworld's templates. A judge frame (a
    :class:`Prompt` of kind ``"judge"``) is read from its ``answer`` field instead of its text, so
    the scripted parent is a perfect judge: the right act copies every word, a wrong one fewer.

    Args:
        copy: probability mass on copying a context word.
        vocab_size: size of the uniform fallback vocabulary.
        cache_size: entries of the exact-request cache.
        cache_bytes: byte budget of the exact-request cache.
        store: the persistent answer store; off unless asked for (its templates are cheaper to
            run than a lookup), see :class:`~babyworld.parent.base.Parent`.
    """

    label = "scripted"
    scripted = True
    store_by_default = False

    def __init__(
        self,
        copy: float = 0.5,
        vocab_size: int = 1000,
        cache_size: int = 65536,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        store: StoreSetting = None,
    ) -> None:
        super().__init__(cache_size=cache_size, cache_bytes=cache_bytes, store=store)
        if not 0.0 <= copy < 1.0:
            raise ValueError(f"copy must be in [0, 1), got {copy}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.copy = copy
        self.vocab_size = vocab_size

    def _store_description(self) -> dict[str, Any]:
        templates = json.dumps([TEMPLATES, _VERDICT], sort_keys=True).encode()
        return {
            "engine": "scripted",
            "version": SCRIPTED_VERSION,
            "copy": self.copy,
            "vocab_size": self.vocab_size,
            "templates": hashlib.blake2b(templates, digest_size=16).hexdigest(),
        }

    def _generate(
        self, prompts: list[str], *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        out = []
        for p in prompts:
            if not isinstance(p, Prompt) or p.kind not in TEMPLATES:
                raise ValueError(
                    "the scripted parent only answers babyworld's structured prompts "
                    f"(kinds {sorted(TEMPLATES)}); got {str(p)[:60]!r}. Use an LLM parent for "
                    "free text."
                )
            options = TEMPLATES[p.kind]
            pick = zlib.crc32(f"{p}|{seed if temperature > 0 else 0}".encode()) % len(options)
            fields = dict(p.fields)
            fields["verdict"] = _VERDICT.get(fields.get("verdict", ""), "")
            answer = fields.get("answer", "")
            article = "" if fields.get("attribute") == "color" else "a "
            fields["answer_phrase"] = article + answer
            given = fields.get("given", "nothing")
            fields["given_phrase"] = (
                "I don't understand. What do you want?"
                if given == "nothing"
                else f"Here is the {given}."
            )
            said = fields.get("utterance", "")
            fields["reply_phrase"] = (
                f"Yes, {said}!" if p.fields.get("verdict") == "fits" else f"Hmm, {said}? No."
            )
            text = options[pick].format(**fields).strip()
            words = text.split()[:max_new_tokens]
            self.stats.prompt_tokens += len(WordTokenizer.words(p))
            self.stats.generated_tokens += len(words)
            out.append(" ".join(words))
        return out

    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        out = []
        for ctx, cont in zip(contexts, continuations, strict=True):
            if isinstance(ctx, Prompt) and ctx.kind == "judge":
                # A judge frame: the parent copies from what it knows is right (a perfect judge).
                seen = set(WordTokenizer.words(ctx.fields["answer"]))
            else:
                seen = set(WordTokenizer.words(ctx))
            uniform = (1.0 - self.copy) / self.vocab_size
            lps = [
                math.log(self.copy / len(seen) * (w in seen) + uniform)
                if seen
                else math.log(uniform)
                for w in WordTokenizer.words(cont)
            ]
            self.stats.scored_tokens += len(seen) + len(lps)
            out.append(np.asarray(lps, dtype=np.float64))
        return out
