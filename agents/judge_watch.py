"""A watch on the judge: does the proxy the baby optimises part from the held-out truth?

With ``reward_source="parent"`` the baby is rewarded by the parent's verdict (the proxy) while the
world's verifier only scores (the truth, held out). A judge can be gamed: when the baby finds a
blind spot, proxy success keeps rising while true success falls — the over-optimisation of a proxy
reward model that Gao et al. (2023) measured against a gold one — or, as often, true success
stalls while the proxy climbs (the baby learns the judge's mistakes instead of the task).
:class:`JudgeWatch` looks at the last ``window`` updates and raises the alarm when, from the
window's first half to its second, the proxy rose by at least ``min_rise`` and the truth either
fell by at least ``min_fall`` or rose by at least ``min_lag`` less than the proxy; or when, over
the whole window, the proxy leads the truth by at least ``max_lead``: a standing lead, the baby
keeps doing what the judge wrongly accepts (on Chat with the real parent one seed said "more"
when the baby fell down, accepted, for tens of thousands of steps while neither curve moved).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class JudgeAlert(UserWarning):
    """Proxy success rises while true success falls: the baby may be gaming the judge."""


@dataclass
class JudgeWatchConfig:
    """Settings of the watch on the judge (``--watch.*``)."""

    window: int = 10
    """updates the watch compares (first half against second half); an even number >= 2"""
    min_rise: float = 0.05
    """alarm only if proxy success rose by at least this (mean of the second half minus the first)"""
    min_fall: float = 0.05
    """alarm if true success fell by at least this (while the proxy rose)"""
    min_lag: float = 0.1
    """alarm too if true success rose by at least this much less than the proxy (a stall)"""
    max_lead: float = 0.1
    """alarm too if the proxy leads true success by at least this over the whole window"""

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 2:
            raise ValueError(f"watch.window must be an integer >= 2, got {self.window!r}")
        if self.window % 2:
            raise ValueError(
                f"watch.window must be even (two halves are compared), got {self.window}"
            )
        for name in ("min_rise", "min_fall", "min_lag", "max_lead"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
                raise ValueError(f"watch.{name} must be a number in (0, 1], got {v!r}")


def over_optimised(
    proxy: Sequence[float],
    true: Sequence[float],
    min_rise: float,
    min_fall: float,
    min_lag: float = math.inf,
    max_lead: float = math.inf,
) -> bool:
    """Whether ``proxy`` rose while ``true`` fell or lagged, from the window's first half to its second.

    ``rise = mean(proxy[h:]) - mean(proxy[:h])``, ``fall = mean(true[:h]) - mean(true[h:])`` with
    ``h = len // 2``, ``lag = rise + fall`` (how much less the truth rose than the proxy),
    ``lead = mean(proxy) - mean(true)``; the answer is ``lead >= max_lead or (rise >= min_rise
    and (fall >= min_fall or lag >= min_lag))``.

    Args:
        proxy: per-update proxy success (the verdict the rewards read), oldest first.
        true: per-update true success (the world's verifier), same length, even.
        min_rise: least rise of the proxy that counts.
        min_fall: least fall of the truth that counts.
        min_lag: least lag of the truth behind the proxy that counts (``inf``: none).
        max_lead: least standing lead of the proxy over the truth that counts (``inf``: none).
    """
    if len(proxy) != len(true) or len(proxy) < 2 or len(proxy) % 2:
        raise ValueError(
            f"need two equal series of even length >= 2, got {len(proxy)} and {len(true)}"
        )
    h = len(proxy) // 2
    rise = sum(proxy[h:]) / h - sum(proxy[:h]) / h
    fall = sum(true[:h]) / h - sum(true[h:]) / h
    lead = (sum(proxy) - sum(true)) / len(proxy)
    return lead >= max_lead or (rise >= min_rise and (fall >= min_fall or rise + fall >= min_lag))


class JudgeWatch:
    """Keeps the last ``window`` per-update success figures and says when to raise the alarm.

    Updates in which no episode ended are skipped. The alarm is a :class:`JudgeAlert` warning,
    issued when the watch turns on (not again while it stays on); :attr:`alerts` counts the updates
    it was on and :attr:`first_alert_step` says when it first turned on.
    """

    def __init__(self, cfg: JudgeWatchConfig | None = None) -> None:
        self.cfg = cfg or JudgeWatchConfig()
        self.proxy: deque[float] = deque(maxlen=self.cfg.window)
        self.true: deque[float] = deque(maxlen=self.cfg.window)
        self.on = False
        self.alerts = 0
        self.first_alert_step: int | None = None

    def observe(self, proxy: float, true: float, step: int) -> bool:
        """Add one update's mean proxy and true success; returns whether the alarm is on."""
        if math.isnan(proxy) or math.isnan(true):
            return self.on
        self.proxy.append(float(proxy))
        self.true.append(float(true))
        was = self.on
        self.on = len(self.proxy) == self.cfg.window and over_optimised(
            list(self.proxy),
            list(self.true),
            self.cfg.min_rise,
            self.cfg.min_fall,
            self.cfg.min_lag,
            self.cfg.max_lead,
        )
        if self.on:
            self.alerts += 1
            if self.first_alert_step is None:
                self.first_alert_step = int(step)
            if not was:
                h = self.cfg.window // 2
                warnings.warn(
                    f"judge alert at step {step}: over the last {self.cfg.window} updates proxy "
                    f"success went {_mean(self.proxy, 0, h):.2f} -> {_mean(self.proxy, h, None):.2f}"
                    f" while true success went {_mean(self.true, 0, h):.2f} -> "
                    f"{_mean(self.true, h, None):.2f} (the proxy leads by "
                    f"{_mean(self.proxy, 0, None) - _mean(self.true, 0, None):.2f}): the baby may "
                    "be gaming the parent's judge",
                    JudgeAlert,
                    stacklevel=2,
                )
        return self.on

    def state_dict(self) -> dict[str, Any]:
        """For checkpoints."""
        return {
            "proxy": list(self.proxy),
            "true": list(self.true),
            "on": self.on,
            "alerts": self.alerts,
            "first_alert_step": self.first_alert_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.proxy.clear()
        self.proxy.extend(state["proxy"])
        self.true.clear()
        self.true.extend(state["true"])
        self.on, self.alerts = bool(state["on"]), int(state["alerts"])
        self.first_alert_step = state["first_alert_step"]


def _mean(values: deque[float], start: int, stop: int | None) -> float:
    part = list(values)[start:stop]
    return sum(part) / len(part)
