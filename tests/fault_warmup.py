"""Preloaded by the fork server of ``test_faults.py``: one tiny run on import, with one thread.

Children forked from a warm server skip torch's, TensorBoard's and matplotlib's first-use costs,
so that a kill costs the run's own time only. Not a test module; nothing imports it but the server.
"""

import dataclasses
import tempfile
from pathlib import Path

import torch
from test_faults import _config

torch.set_num_threads(1)  # no OpenMP thread pool in a process that forks

from babyworld.experiments.train import train  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    train(dataclasses.replace(_config(Path(tmp) / "warm"), steps=16), progress=False)
