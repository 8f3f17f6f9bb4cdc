"""The named controls of an ablation, and the one place ablate and report read mode names from.

A **control** is a learning mode plus the overrides that make it answer one question: what a
conclusion of the ablation would be if the control were left out. In an ablation config a label
that names a control *is* that control (``[modes.task_per_act]``); ``control = "<name>"`` names
one under another label; ``mode = "<mode>"`` names a bare mode instead. A label's own ``modes``,
``ppo`` and ``env`` tables apply on top of the control's (and the config's shared ``[ppo]`` and
``[env]`` under both).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def registered_modes() -> tuple[str, ...]:
    """The learning modes ``babyworld train`` accepts, in the registry's order.

    The one place the ablation harness and its report read mode names from: the mode registry
    (:data:`babyworld.agents.modes.REGISTRY`).
    """
    from babyworld.agents.modes import MODES

    return tuple(MODES)


def legacy_modes() -> dict[str, str]:
    """Mode names older configs used, and what they are now (``sparse``)."""
    from babyworld.agents.modes import LEGACY

    return dict(LEGACY)


#: The distillation teacher's temperature in the ``distill`` control (``--env.consistency-
#: temperature``), tuned: the temperature of the grid (1, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01)
#: with the highest expected sampled accuracy of the teacher over both levels, measured with the
#: real parent on 500 situations each (``python -m babyworld.experiments.studies.teacher_temperature``,
#: experiments/results/teacher_temperature_smollm2.json): Point 0.968 at T = 1, 0.9985 at 0.1
#: (greedy 0.998); Name 0.949 at T = 1, 1.000 at 0.1 (greedy 1.000).
DISTILL_TEMPERATURE = 0.1


def _frozen(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class Control:
    """A mode and the overrides that make it a control (see the module docstring)."""

    mode: str
    """the learning mode"""
    rules_out: str
    """what a difference between this control and ``baby`` rules out (one sentence)"""
    modes: Mapping[str, Any] = field(default_factory=_frozen)
    """``--modes.*`` overrides"""
    ppo: Mapping[str, Any] = field(default_factory=_frozen)
    """``--ppo.*`` overrides"""
    env: Mapping[str, Any] = field(default_factory=_frozen)
    """``--env.*`` overrides"""


CONTROLS: Mapping[str, Control] = MappingProxyType(
    {
        "baby": Control(
            "baby",
            "the reference: PPO on the default-weighted reward vector, paid per act, with the "
            "world model",
        ),
        "task_per_act": Control(
            "baby",
            "that the other reward components (consistency, predictability, MDL, progress) are "
            "what teaches: only the task reward is paid, still per act",
            env=_frozen({"reward_weights": "task=1"}),
        ),
        "parent_only": Control(
            "baby",
            "that the verifier does the teaching: success for the rewards is the parent's "
            "judgement, the verifier only scores (held out)",
            env=_frozen({"reward_source": "parent"}),
        ),
        "no_judgement": Control(
            "baby",
            "that the baby learns without the parent's judgement: no reward that carries it (no "
            "task, consistency or progress), only its own predictability and MDL at their default "
            "weights; the world model and the parent's words stay, the verifier is held out",
            env=_frozen(
                {"reward_weights": "predictability=0.05,mdl=0.05", "reward_source": "parent"}
            ),
        ),
        "no_world_model": Control(
            "baby",
            "that the world model's cross-entropy on the parent's words carries the answer into "
            "the shared encoder",
            ppo=_frozen({"wm_coef": 0.0}),
        ),
        "sparse_ppo": Control(
            "sparse_ppo",
            "per-act credit: PPO on the episode's summed task reward paid at its end",
        ),
        "grpo": Control(
            "grpo",
            "that a critic is needed for the sparse reward: group-relative advantages over G = 4 "
            "replays of one task seed",
            modes=_frozen({"group_size": 4}),
        ),
        "distill": Control(
            "distill",
            "that the teacher's temperature caps distillation: on-policy forward KL to the "
            f"parent's judgement sharpened to temperature {DISTILL_TEMPERATURE}",
            env=_frozen({"consistency_temperature": DISTILL_TEMPERATURE}),
        ),
        "distill_t1": Control(
            "distill",
            "the teacher as the env defines it (temperature 1): the old headline's distill",
        ),
        "hybrid": Control(
            "hybrid",
            "distillation as a warm start: distill for modes.switch_steps, then baby",
        ),
        "predict_first": Control(
            "predict_first",
            "that the world model alone builds what the policy needs: random acts and no policy "
            "loss for modes.switch_steps, then baby",
        ),
        "sdpo": Control(
            "sdpo",
            "self-distillation as SDPO does it: the student conditioned on a successful peer's "
            "act (else the parent's feedback) and on the act it judges, blended with the RL loss",
        ),
        "sdft": Control(
            "sdft",
            "self-distillation from a demonstration of the right act, blended with the RL loss",
        ),
    }
)


class LabelError(ValueError):
    """A label names neither a mode nor a control, or names both ways (the message says which)."""


def resolve(label: str, entry: Mapping[str, Any]) -> tuple[str, dict, dict, dict]:
    """The mode and the ``modes``, ``ppo`` and ``env`` overrides of one ablation label.

    Args:
        label: the label (its sub-table name under ``[modes]``).
        entry: its sub-table; ``mode`` (a bare mode) and ``control`` (a named control) are read
            here, ``modes``, ``ppo`` and ``env`` are returned on top of the control's.

    Returns:
        ``(mode, modes, ppo, env)``; the override dicts use ``_`` spellings of the keys.

    Raises:
        LabelError: an unknown mode or control, both ``mode`` and ``control``, or a control
            whose mode this babyworld lacks. The message says which and lists the choices.
    """
    modes = registered_modes()
    choices = f"the modes are {modes}; the controls are {tuple(CONTROLS)}"
    if "mode" in entry and "control" in entry:
        raise LabelError("give 'mode' (a bare mode) or 'control' (a named control), not both")
    base: Control | None = None
    if "control" in entry:
        name = entry["control"]
        if not isinstance(name, str) or name not in CONTROLS:
            raise LabelError(f"unknown control {name!r}; {choices}")
        base = CONTROLS[name]
    elif "mode" in entry:
        mode = entry["mode"]
        if not isinstance(mode, str) or (mode not in modes and mode not in legacy_modes()):
            raise LabelError(f"unknown mode {mode!r}; {choices}")
    elif label in CONTROLS:
        base = CONTROLS[label]
    elif label in modes or label in legacy_modes():
        mode = label
    else:
        raise LabelError(
            f"{label!r} is neither a mode nor a control; {choices}; to name a variant, set "
            "mode = '<a mode>' or control = '<a control>'"
        )
    if base is not None:
        mode = base.mode
        if mode not in modes:
            raise LabelError(
                f"control {entry.get('control', label)!r} needs mode {mode!r}, which this "
                f"babyworld does not have (the modes are {modes})"
            )
    out = []
    for key in ("modes", "ppo", "env"):
        mine = entry.get(key, {})
        if not isinstance(mine, Mapping):
            raise LabelError(f"{key} must be a table, got {mine!r}")
        ctl = dict(getattr(base, key)) if base is not None else {}
        out.append({**_underscored(ctl), **_underscored(mine, key)})
    return mode, out[0], out[1], out[2]


def _underscored(d: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``switch-steps`` is ``switch_steps`` (the command line's spelling), once."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = k.replace("-", "_")
        if name in out:
            raise LabelError(f"{where}.{name} is given twice (with '_' and with '-')")
        out[name] = v
    return out
