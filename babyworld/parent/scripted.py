"""A scripted parent: templates and a word-copy language model, no LLM.

Labelled ``scripted`` everywhere it appears. It exists for unit tests and speed baselines; it is
never the default parent of a real experiment.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

import numpy as np

from babyworld.parent.base import DEFAULT_CACHE_BYTES, Parent, Prompt, StoreSetting
from babyworld.parent.digest import digest
from babyworld.text import WordTokenizer
from babyworld.validation import check_float, check_int
from babyworld.world import COLORS, SHAPES

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
SCRIPTED_VERSION = 2


def _unit(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (a hash)."""
    return zlib.crc32(key.encode()) / 2**32


class ScriptedParent(Parent):
    """Template generation and a copy-or-uniform word model for scoring (no LLM).

    Scoring model, per word ``w`` of the continuation (words as split by
    :class:`~babyworld.text.WordTokenizer`):
    ``p(w | context) = copy * [w in context] / |set(context words)| + (1 - copy) / V``
    with ``V`` = ``vocab_size``. Words named by the context become likely, so calibrated judgement
    and noisy-channel interpretation behave sensibly on babyworld's templates. A judge frame (a
    :class:`Prompt` of kind ``"judge"``) is read by rules over the same view an LLM parent reads,
    never from an answer: the toy words of its own request (``Point``), or the word of the shown
    toy that its own question asks for (``"color"`` in the question: the colour, else the shape;
    ``Name``). On its own templates these rules are right, so it judges as the verifier does: the
    right act copies every word, a wrong one fewer. The labelled oracle frame (kind ``"oracle"``)
    is read from its ``answer``.

    A judge of known quality, for sweeps (``scripted?judge_error=0.2&judge_bias=0.4``): on a
    situation about a shown toy (the toy and the question, hashed with ``judge_seed``), with
    probability ``judge_error`` it takes another word as right (one of the other 11, drawn by the
    same hash), and independently, for a share ``judge_bias`` of the toys, it also accepts the shown
    toy's other attribute word (whichever attribute is asked). The same situation always gets the
    same verdicts, as an LLM's frames do.

    Args:
        copy: probability mass on copying a context word.
        vocab_size: size of the uniform fallback vocabulary.
        cache_size: entries of the exact-request cache.
        cache_bytes: byte budget of the exact-request cache.
        store: the persistent answer store; off unless asked for (its templates are cheaper to
            run than a lookup), see :class:`~babyworld.parent.base.Parent`.
        judge_error: share of shown-toy situations judged wrong, in [0, 1).
        judge_bias: share of shown-toy situations in which it also accepts the other attribute,
            in [0, 1).
        judge_seed: which situations those are.
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
        judge_error: float = 0.0,
        judge_bias: float = 0.0,
        judge_seed: int = 0,
    ) -> None:
        super().__init__(cache_size=cache_size, cache_bytes=cache_bytes, store=store)
        if not 0.0 <= copy < 1.0:
            raise ValueError(f"copy must be in [0, 1), got {copy}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.judge_error = check_float("judge_error", judge_error, 0, 1, high_open=True)
        self.judge_bias = check_float("judge_bias", judge_bias, 0, 1, high_open=True)
        self.judge_seed = check_int("judge_seed", judge_seed, 0)
        self.copy = copy
        self.vocab_size = vocab_size
        if self.judge_error or self.judge_bias:
            self.label = (
                f"scripted(judge_error={self.judge_error:g},judge_bias={self.judge_bias:g})"
            )

    def judged_words(self, prompt: Prompt) -> set[str]:
        """The words this parent takes as right, by rule over its view (``said``, ``shown``).

        With a shown toy (``Name``): its colour if the parent's question says "color" or
        "colour", else its shape (then ``judge_error`` and ``judge_bias``, see the class).
        Without (``Point``): the colour and shape words of the parent's request.
        """
        said = set(WordTokenizer.words(prompt.fields["said"]))
        shown = prompt.fields.get("shown")
        if not shown:
            return {w for w in said if w in COLORS or w in SHAPES}
        color, shape = shown.split()
        right, other = (color, shape) if said & {"color", "colour"} else (shape, color)
        situation = f"{self.judge_seed}|{prompt.fields['said']}|{shown}"
        if _unit(f"error|{situation}") < self.judge_error:
            wrong = [w for w in SHAPES + COLORS if w != right]
            right = wrong[zlib.crc32(f"pick|{situation}".encode()) % len(wrong)]
        if _unit(f"bias|{self.judge_seed}|{shown}") < self.judge_bias:  # both questions about it
            return {right, other} if right != other else {right}
        return {right}

    @property
    def runtime(self) -> str:
        """Rules, not a model."""
        return "scripted rules (not an LLM)"

    def _store_description(self) -> dict[str, Any]:
        templates = json.dumps([TEMPLATES, _VERDICT], sort_keys=True).encode()
        return {
            "engine": "scripted",
            "version": SCRIPTED_VERSION,
            "copy": self.copy,
            "vocab_size": self.vocab_size,
            "templates": digest(templates),
            "judge": [self.judge_error, self.judge_bias, self.judge_seed],
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
            if p.kind == "react_name":
                answer = sorted(self.judged_words(p))[0]
                article = "" if answer in COLORS else "a "
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
            # the env said the opening (its words are this parent's own verdict words): the rest
            text = text.removeprefix(p.fields.get("opening", "")).strip()
            words = text.split()[:max_new_tokens]
            self.stats.prompt_tokens += len(WordTokenizer.words(p))
            self.stats.generated_tokens += len(words)
            out.append(" ".join(words))
        return out

    def _score(self, contexts: list[str], continuations: list[str]) -> list[np.ndarray]:
        out = []
        for ctx, cont in zip(contexts, continuations, strict=True):
            if isinstance(ctx, Prompt) and ctx.kind == "judge":
                seen = self.judged_words(ctx)  # what its own words and the shown toy make right
            elif isinstance(ctx, Prompt) and ctx.kind == "oracle":
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
