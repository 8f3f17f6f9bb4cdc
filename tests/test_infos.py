"""``batch_infos`` builds exactly the dict that folding Gymnasium's ``_add_info`` builds."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import VectorEnv

from babyworld.envs.infos import batch_infos


class _Folder(VectorEnv):
    def __init__(self, n: int) -> None:
        self.num_envs = n


def _fold(items, n):
    v, out = _Folder(n), {}
    for i, info in items:
        out = v._add_info(out, info, i)
    return out


def _assert_same(a, b):
    assert list(a) == list(b)  # the same keys in the same order
    for k in a:
        if isinstance(a[k], dict):
            _assert_same(a[k], b[k])
        else:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            if a[k].dtype == object:
                assert all(x is y or np.array_equal(x, y) for x, y in zip(a[k], b[k], strict=True))
            else:
                np.testing.assert_array_equal(a[k], b[k])


def test_batch_infos_equals_gymnasium_fold():
    items = [
        (2, {"final_obs": {"x": 1}, "final_info": {"success": True, "r": np.float32(0.5)}}),
        (0, {"final_obs": {"x": 2}, "final_info": {"success": False, "r": np.float32(1.5)}}),
        (0, {"text": "hi", "n": 3, "v": np.arange(3.0), "m": np.ones(2, bool), "f": 1.5}),
        (1, {"text": "yo", "n": 2.7, "v": np.ones(3), "f": 2, "sub": {"a": 1, "b": "z"}}),
        (2, {"n": 5, "flag": np.bool_(True), "sub": {"a": 4}, "f": 0.25}),
    ]
    _assert_same(batch_infos(items, 4), _fold(items, 4))
    # n was first an int: 2.7 is cut to 2 in both; env 3 has no info, its masks are False
    out = batch_infos(items, 4)
    assert out["n"].tolist() == [3, 2, 5, 0] and out["_n"].tolist() == [True, True, True, False]
    assert out["final_obs"][1] is None and out["final_obs"][2] == {"x": 1}


def test_batch_infos_of_nothing_and_bad_mix():
    assert batch_infos([], 3) == {}
    with pytest.raises(TypeError, match="holds a dict in some envs"):
        batch_infos([(0, {"k": {"a": 1}}), (1, {"k": 2})], 2)
