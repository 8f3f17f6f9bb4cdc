"""What decoding reads from a model's vocabulary (torch-free, so the CTranslate2 parent stays light).

Each token's text, the tokens that end a line, and the tokens a prompt's ``avoid`` field rules out
(constrained decoding).

A :class:`~babyworld.parent.Prompt` field ``avoid`` lists words (space-separated) the parent's
continuation must not say; the env fills it from the parent's view (``prompts.avoid``).
"""

from __future__ import annotations

from collections.abc import Sequence


def avoid_of(prompt: str) -> str:
    """A prompt's ``avoid`` field (``""`` for a plain string or a prompt without one)."""
    fields = getattr(prompt, "fields", None)
    return fields.get("avoid", "") if fields is not None else ""


def avoided_words(avoid: str) -> list[str]:
    """The spellings decoding must never produce for ``avoid`` (space-separated words).

    Each word, its plural (``s``/``es``) and their capitalised forms, with and without a leading
    space: the forms a tokenizer has single tokens for. A backend bans the tokens that spell one
    alone (:meth:`Vocabulary.avoided`; the served parent by a ``logit_bias``).
    """
    forms = {f for w in avoid.split() for f in (w, w + "s", w + "es")}
    forms |= {f.capitalize() for f in forms}
    return sorted(forms | {" " + f for f in forms})


def avoided_token_ids(token_texts: Sequence[str], avoid: str) -> list[int]:
    """Ids of the tokens whose text (``token_texts[i]``) is one of :func:`avoided_words`."""
    forms = set(avoided_words(avoid))
    return [i for i, t in enumerate(token_texts) if t in forms]


class Vocabulary:
    """The text of every token (``texts[i]``, decoded once) and what decoding reads from it.

    Args:
        texts: each token's text, in id order.
        eos: the end token's id (it ends a line too), or ``None``.
    """

    def __init__(self, texts: Sequence[str], eos: int | None) -> None:
        self.texts = list(texts)
        #: the tokens that end a generated line: a newline in their text, or the end token
        self.stop_ids = [i for i, t in enumerate(self.texts) if "\n" in t]
        if eos is not None and eos not in self.stop_ids:
            self.stop_ids.append(eos)
        self._avoided: dict[str, list[int]] = {}

    def avoided(self, avoid: str) -> list[int]:
        """The ids :func:`avoided_token_ids` rules out for ``avoid`` (computed once per value)."""
        if avoid not in self._avoided:
            self._avoided[avoid] = avoided_token_ids(self.texts, avoid)
        return self._avoided[avoid]
