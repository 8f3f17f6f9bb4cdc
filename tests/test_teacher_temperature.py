"""The distillation teacher's accuracy against its temperature: hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from babyworld.experiments.studies.teacher_temperature import (
    greedy_accuracy,
    main,
    sampled_accuracy,
)


def test_sampled_and_greedy_accuracy_by_hand():
    # situation 1: scores (0, ln 3), right act 1: softmax (1/4, 3/4); at T = 1/2: (1/10, 9/10)
    # situation 2: scores (ln 2, 0, 0), right act 0: (1/2, 1/4, 1/4); at T = 1/2: (2/3, 1/6, 1/6)
    j = [np.array([0.0, math.log(3)]), np.array([math.log(2), 0.0, 0.0])]
    right = [1, 0]
    assert sampled_accuracy(j, right, 1.0) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert sampled_accuracy(j, right, 0.5) == pytest.approx((9 / 10 + 2 / 3) / 2)
    assert sampled_accuracy(j, right, 1e-3) == pytest.approx(1.0)  # towards greedy
    assert greedy_accuracy(j, right) == 1.0
    assert greedy_accuracy(j, [0, 0]) == 0.5
    with pytest.raises(ValueError, match="one right act per situation"):
        sampled_accuracy(j, [1], 1.0)


def test_the_command_with_the_scripted_parent(capsys):
    main(["--parent", "scripted", "--levels", "Point", "--situations", "8"])
    out = capsys.readouterr().out
    assert '"level": "Point"' in out and '"situations": 8' in out and '"0.1":' in out
