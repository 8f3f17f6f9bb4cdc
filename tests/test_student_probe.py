"""The supervised student probe: labels by hand, collection, and a fit that learns."""

from __future__ import annotations

import pytest
import torch

from babyworld.agents.student import StudentConfig
from babyworld.experiments.studies.student_probe import ProbeConfig, collect, fit, labels
from babyworld.world import PERCEPT_FEATURES

SMALL = StudentConfig(d_model=16, n_heads=2, n_layers=1, latent_dim=8)


def _percept(colours: list[list[int]], attended: list[int]) -> torch.Tensor:
    """``[S, 3 * F]``: slot j of sample i has colour ``colours[i][j]``; one attended slot each."""
    p = torch.zeros(len(colours), 3, PERCEPT_FEATURES)
    for i, row in enumerate(colours):
        for j, c in enumerate(row):
            p[i, j, c] = 1.0
            p[i, j, PERCEPT_FEATURES - 2] = 1.0  # present
        p[i, attended[i], PERCEPT_FEATURES - 1] = 1.0
    return p.flatten(1)


def test_labels_by_hand():
    percept = _percept([[2, 0, 5], [1, 4, 3]], attended=[1, 2])
    right = torch.tensor([2, 0])
    y, k = labels("act", right, percept, 3)
    assert y.tolist() == [2, 0] and k == 3
    y, k = labels("words", right, percept, 3)  # the wanted (right) slot's colour
    assert y.tolist() == [5, 1] and k == 6
    y, k = labels("percept", right, percept, 3)  # slot 0's colour
    assert y.tolist() == [2, 1] and k == 6
    y, k = labels("attended", right, percept, 3)
    assert y.tolist() == [1, 2] and k == 3
    with pytest.raises(ValueError, match="unknown label 'colour'; choose one of"):
        labels("colour", right, percept, 3)
    with pytest.raises(ValueError, match="unknown label 'colour'; choose one of"):
        ProbeConfig(label="colour")
    with pytest.raises(ValueError, match="unknown level 'Chess'; choose one of"):
        ProbeConfig(level="Chess")
    with pytest.raises(ValueError, match="--samples must be >= 10 and --epochs >= 1, got 5 and 8"):
        ProbeConfig(samples=5)


def test_collect_is_seeded_and_windows_are_the_trainers():
    a = collect("Point", 40, seed=3)
    b = collect("Point", 40, seed=3)
    assert a.window.heard.shape[:2] == (40, 4) and a.right.shape == (40,)
    assert a.n_actions == 3 and 0 <= int(a.right.min()) and int(a.right.max()) < 3
    for x, y in zip(a.window.as_tuple(), b.window.as_tuple(), strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.right, b.right)
    assert bool(a.window.valid[0, -1]) and not bool(a.window.valid[0, 0])  # an episode's start


@pytest.mark.parametrize("kind", ["steps", "tokens"])
def test_fit_learns_a_label_in_the_percept(kind):
    """Slot 0's colour is in the percept: both kinds beat chance (1/6) by far in a few epochs."""
    data = collect("Point", 2000, seed=0)
    y, k = labels("percept", data.right, data.window.percept[:, -1], data.n_actions)
    acc = fit(data, y, k, StudentConfig(kind=kind, position_std=1.0), epochs=5, batch=64)
    assert len(acc) == 5 and all(0.0 <= a <= 1.0 for a in acc)
    assert acc[-1] > 0.6, acc
