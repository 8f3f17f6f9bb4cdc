"""What a run says and hears: dialogues, word budgets and emergent-language measures.

:class:`LanguageLog` listens to every step of the trainer's :class:`CurriculumRunner` (the
trainer calls it with each :class:`~babyworld.curricula.runner.RunnerStep`) and keeps, per stage
(the episode's task name):

- **word budgets** (the BabyLM convention: whitespace-separated words): words *heard* from the
  parent (its first request of an episode and every reaction and next request it says when an
  exchange ends; while the baby speaks on the parent says nothing new) and words the baby
  *produced* (the words of its finished utterances; a Point symbol or a Name word is one);
- **the last ``window`` exchanges** as ``(meaning, message)`` pairs for
  :func:`babyworld.language.language_measures`: the message is the baby's utterance split into
  words, the meaning the exchange's target split into its attributes (the wanted toy's
  ``(colour, shape)`` on Point and Request, the right word on Name, the situation on Chat);
- **finished dialogues** (every exchange: what the parent said, what the baby said, how it was
  understood, the reward components, success), from which :meth:`LanguageLog.sample` draws a few
  for the transcripts (``transcripts.jsonl`` and TensorBoard's text panel).

Its state goes into the run's checkpoint, so a resumed run counts on exactly.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babyworld.language import language_measures
from babyworld.rewards import REWARD_NAMES
from babyworld.validation import check_config
from babyworld.world import COLORS, SHAPES

TRANSCRIPTS = "transcripts.jsonl"


@dataclass
class LanguageConfig:
    """Transcripts and language measures of a run (``--lang.*``)."""

    every: int = 10
    """updates between transcripts and language measures (logged under language/)"""
    dialogues: int = 2
    """dialogues sampled into the transcripts every --lang.every updates"""
    window: int = 200
    """exchanges per stage the language measures are computed on (the latest)"""

    def __post_init__(self) -> None:
        check_config(self, "lang")
        for name in ("every", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"lang.{name} must be >= 1, got {getattr(self, name)}")
        if self.dialogues < 0:
            raise ValueError(f"lang.dialogues must be >= 0, got {self.dialogues}")


def count_words(text: str) -> int:
    """Whitespace-separated words of ``text`` (BabyLM's word count)."""
    return len(text.split())


def meaning_of(target: str) -> tuple[str, ...]:
    """The attributes of an exchange's target: ``"red ball"`` -> ``("red", "ball")``.

    A target that is not a colour followed by a shape (a Name answer, a Chat situation) is one
    attribute.
    """
    words = target.split()
    if len(words) == 2 and words[0] in COLORS and words[1] in SHAPES:
        return (words[0], words[1])
    return (target,)


def parse_milestones(spec: str | None) -> tuple[int, ...]:
    """``"1e5,1e6"`` -> ``(100000, 1000000)``: word counts, positive and increasing.

    Raises:
        ValueError: a part is not a number, not a positive whole number, or not above the one
            before it (named).
    """
    if spec is None or not spec.strip():
        return ()
    out: list[int] = []
    for part in spec.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(
                f"--checkpoint-at-words: {part.strip()!r} is not a number; give word counts "
                "separated by commas, e.g. 1e5,1e6"
            ) from None
        if not np.isfinite(value) or value < 1 or value != int(value):
            raise ValueError(
                f"--checkpoint-at-words: {part.strip()!r} is not a positive whole number of words"
            )
        if out and int(value) <= out[-1]:
            raise ValueError(f"--checkpoint-at-words must increase: {int(value)} follows {out[-1]}")
        out.append(int(value))
    return tuple(out)


def words_checkpoint(words: int) -> str:
    """File name of the checkpoint written when the run had heard ``words`` words."""
    return f"checkpoint_words_{words}.pt"


class LanguageLog:
    """Dialogues, word budgets and (meaning, message) windows of a run, per stage.

    Args:
        n_envs: envs of the vector env.
        cfg: transcript and window settings.
        seed: seeds the sampling of transcripts (its own generator: training is unaffected).
    """

    def __init__(self, n_envs: int, cfg: LanguageConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.heard: dict[str, int] = {}
        self.produced: dict[str, int] = {}
        self.pairs: dict[str, deque] = {}
        self.current: list[dict[str, Any] | None] = [None] * n_envs
        self.finished: list[dict[str, Any]] = []  # since the last sample
        self.milestones_done: list[int] = []

    # ------------------------------------------------------------------ listening
    def start(self, infos: dict, envs: Sequence[int] | None = None, step: int = 0) -> None:
        """Episodes begin in ``envs`` (default: all) with these reset infos."""
        for i in range(len(self.current)) if envs is None else envs:
            stage, said = str(infos["task"][i]), str(infos["parent_utterance"][i])
            self._add(self.heard, stage, count_words(said))
            self.current[i] = {"stage": stage, "start_step": step, "request": said, "turns": []}

    def __call__(self, res: Any, step: int) -> None:
        """Record one :class:`~babyworld.curricula.runner.RunnerStep` taken at env step ``step``."""
        infos = res.infos
        ends = np.asarray(infos["exchange_end"], dtype=bool)
        for i in np.flatnonzero(ends):
            ep = self.current[i]
            if ep is None:  # the run began before this log listened: start it here
                ep = self.current[i] = {
                    "stage": str(infos["task"][i]),
                    "start_step": step,
                    "request": "",
                    "turns": [],
                }
            stage, baby = ep["stage"], str(infos["baby_utterance"][i])
            heard = str(infos["parent_utterance"][i])
            self._add(self.produced, stage, count_words(baby))
            self._add(self.heard, stage, count_words(heard))
            window = self.pairs.setdefault(stage, deque(maxlen=self.cfg.window))
            window.append((meaning_of(str(infos["target"][i])), tuple(baby.split())))
            ep["turns"].append(
                {
                    "parent": ep["request"],
                    "baby": baby,
                    "understood": str(infos["baby_meaning"][i]),
                    "target": str(infos["target"][i]),
                    "reaction": str(infos["parent_feedback"][i]),
                    "rewards": {
                        k: round(float(v), 4)
                        for k, v in zip(REWARD_NAMES, infos["reward_vector"][i], strict=True)
                    },
                    "success": bool(infos["true_success"][i]),
                    "verdict": bool(infos["success"][i]),  # what the rewards read
                }
            )
            ep["request"] = str(infos["parent_request"][i])
        for f in res.finished:
            ep = self.current[f.env]
            if ep is not None:
                self.finished.append(
                    {
                        "stage": ep["stage"],
                        "step": step,
                        "success": round(float(f.true_success), 4),
                        "turns": ep["turns"],
                    }
                )
                del self.finished[: -max(64, self.cfg.dialogues)]
        if res.finished:
            self.start(res.reset_infos, [f.env for f in res.finished], step)

    @staticmethod
    def _add(table: dict[str, int], stage: str, n: int) -> None:
        table[stage] = table.get(stage, 0) + n

    # ------------------------------------------------------------------ reading
    @property
    def words_heard(self) -> int:
        """Words heard from the parent over the run."""
        return sum(self.heard.values())

    @property
    def words_produced(self) -> int:
        """Words the baby produced over the run."""
        return sum(self.produced.values())

    def budgets(self) -> dict[str, Any]:
        """``{"words_heard", "words_produced", "stages": {stage: {...}}}`` for summary.json."""
        stages = sorted(set(self.heard) | set(self.produced))
        return {
            "words_heard": self.words_heard,
            "words_produced": self.words_produced,
            "stages": {
                s: {"words_heard": self.heard.get(s, 0), "words_produced": self.produced.get(s, 0)}
                for s in stages
            },
        }

    def measures(self) -> dict[str, dict[str, Any]]:
        """:func:`~babyworld.language.language_measures` of each stage's window."""
        out = {}
        for stage, window in sorted(self.pairs.items()):
            if window:
                meanings, messages = zip(*window, strict=True)
                out[stage] = language_measures(list(meanings), list(messages))
        return out

    def sample(self, update: int, step: int) -> list[dict[str, Any]]:
        """Up to ``cfg.dialogues`` dialogues finished since the last sample (then forgotten)."""
        pool, self.finished = self.finished, []
        k = min(self.cfg.dialogues, len(pool))
        picks = sorted(self.rng.choice(len(pool), size=k, replace=False)) if k else []
        return [{"update": update, "step": step, **pool[int(j)]} for j in picks]

    def due_milestones(self, milestones: Sequence[int]) -> list[int]:
        """Milestones of words heard passed since the last call (each returned once)."""
        due = [m for m in milestones if m <= self.words_heard and m not in self.milestones_done]
        self.milestones_done += due
        return due

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the log exactly."""
        return {
            "rng": self.rng.bit_generator.state,
            "heard": dict(self.heard),
            "produced": dict(self.produced),
            "pairs": {k: list(v) for k, v in self.pairs.items()},
            "current": [None if c is None else json.loads(json.dumps(c)) for c in self.current],
            "finished": list(self.finished),
            "milestones_done": list(self.milestones_done),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.heard, self.produced = dict(state["heard"]), dict(state["produced"])
        self.pairs = {
            k: deque(((tuple(m), tuple(x)) for m, x in v), maxlen=self.cfg.window)
            for k, v in state["pairs"].items()
        }
        if len(state["current"]) != len(self.current):
            raise ValueError(
                f"language log has {len(state['current'])} envs, this run {len(self.current)}"
            )
        self.current = list(state["current"])
        self.finished = list(state["finished"])
        self.milestones_done = list(state["milestones_done"])


def append_transcripts(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Append ``records`` to ``transcripts.jsonl``: one JSON line each, one write per line."""
    if not records:
        return
    with path.open("a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
            f.flush()
        os.fsync(f.fileno())


def trim_transcripts(path: Path, updates: int) -> None:
    """Keep the transcripts of updates up to ``updates`` (a resumed run writes the rest again).

    A last line cut by a kill is dropped as well.
    """
    if not path.is_file():
        return
    from babyworld.agents.checkpoint import write_text_atomic

    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("update", 0) <= updates:
            keep.append(line + "\n")
    write_text_atomic("".join(keep), path)


def transcript_markdown(record: dict[str, Any]) -> str:
    """One dialogue as Markdown for TensorBoard's text panel."""
    lines = [
        f"**{record['stage']}** · update {record['update']} · step {record['step']} · "
        f"success {record['success']:.2f}",
        "",
    ]
    before = ""  # the parent's reaction to the previous turn, said before its next request
    for t in record["turns"]:
        comps = ", ".join(f"{k} {v:+.2f}" for k, v in t["rewards"].items())
        mark = "✓" if t["success"] else "✗"
        lines += [
            f"- parent: {before} {t['parent']}".replace(":  ", ": "),
            f"- baby: **{t['baby'] or '(nothing)'}** {mark} ({t['understood']}; right: "
            f"{t['target']})",
            f"- reward: {comps}",
        ]
        before = t["reaction"]
    if record["turns"]:
        lines.append(f"- parent: {record['turns'][-1]['reaction']}")
    return "  \n".join(lines)


def log_language(writer: Any, lang: LanguageLog, trainer: Any, run: Path) -> None:
    """Log after an update.

    Word budgets go to TensorBoard every update; every ``cfg.every`` updates, a few transcripts
    (``transcripts.jsonl`` and the text panel) and each stage's language measures.
    """
    step = trainer.global_step
    writer.add_scalar("budget/words_heard", lang.words_heard, step)
    writer.add_scalar("budget/words_produced", lang.words_produced, step)
    for stage in sorted(lang.heard):
        writer.add_scalar(f"budget/words_heard/{stage}", lang.heard[stage], step)
        writer.add_scalar(f"budget/words_produced/{stage}", lang.produced.get(stage, 0), step)
    if trainer.updates % lang.cfg.every:
        return
    records = lang.sample(trainer.updates, step)
    append_transcripts(run / TRANSCRIPTS, records)
    for r in records:
        writer.add_text(f"transcripts/{r['stage']}", transcript_markdown(r), step)
    for stage, measures in lang.measures().items():
        for k, v in measures.items():
            if np.isfinite(v):
                writer.add_scalar(f"language/{stage}/{k}", v, step)


def json_measures(measures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:meth:`LanguageLog.measures` for JSON: ``nan`` (undefined) as ``None``, floats rounded."""
    return {
        stage: {
            k: (None if not np.isfinite(v) else round(float(v), 4) if isinstance(v, float) else v)
            for k, v in m.items()
        }
        for stage, m in measures.items()
    }
