"""``babyworld ablate --ray``: an ablation's runs as Ray tasks on a multi-node cluster.

A local multi-node cluster (Ray's own ``ray.cluster_utils.Cluster``: a head without CPUs and worker
nodes, each its own raylet on this machine) runs a small scripted ablation; one worker node is
killed mid-ablation. Its runs start again on the other node and resume from their checkpoints, and
every run ends exactly as in a local ablation of the same config.
"""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest
import torch

pytest.importorskip("ray")
# Ray clusters of their own: with the other Ray tests in one pytest-xdist worker, one at a time.
pytestmark = pytest.mark.xdist_group("ray")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from babyworld.agents.checkpoint import load_checkpoint  # noqa: E402
from babyworld.experiments.ablation.ablate import (  # noqa: E402
    parse_config,
    plan_runs,
    run_ablation,
)
from babyworld.experiments.ablation.cluster import ClusterError  # noqa: E402
from babyworld.experiments.cli import _ray_flag, main  # noqa: E402


def _config(out, steps=1536, **over):
    return parse_config(
        {
            "out": str(out),
            "parent": "scripted",
            "levels": ["Point"],
            "seeds": [0, 1],
            "steps": steps,  # 48 updates of 4 envs x 8 steps
            "num_envs": 4,
            "threads": 1,  # the same arithmetic in a Ray worker as here
            "checkpoint_every": 1,
            "ppo": {"rollout_steps": 8, "epochs": 1, "minibatches": 2},
            "student": {"d_model": 16, "n_heads": 2, "latent_dim": 4, "word_dim": 4},
            "modes": {"baby": {}},
            **over,
        }
    )


def _rows(run):
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def _same_run(a, b):
    assert _rows(a) == _rows(b)
    assert (a / "eval.csv").read_text() == (b / "eval.csv").read_text()
    ma = load_checkpoint(a / "checkpoint.pt")["trainer"]["model"]
    mb = load_checkpoint(b / "checkpoint.pt")["trainer"]["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_a_node_killed_mid_ablation_loses_nothing_and_results_equal_local(tmp_path):
    local = _config(tmp_path / "local")
    run_ablation(local, progress=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        doomed = cluster.add_node(num_cpus=2)
        cfg = _config(tmp_path / "cluster")
        out: dict = {}

        def driver():
            try:
                out["records"] = run_ablation(cfg, progress=False, ray=cluster.address)
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                out["error"] = e

        thread = threading.Thread(target=driver)
        thread.start()
        runs = [cfg.out / "Point" / "baby" / f"seed{s}" for s in (0, 1)]
        deadline = time.monotonic() + 240
        while not any(
            (r / "checkpoint.pt").is_file() and not (r / "summary.json").is_file() for r in runs
        ):
            assert time.monotonic() < deadline and thread.is_alive(), out
            time.sleep(0.05)
        cluster.add_node(num_cpus=2)  # the second worker node, then the first one dies
        cluster.remove_node(doomed, allow_graceful=False)
        thread.join(timeout=300)
        assert not thread.is_alive() and "error" not in out, out.get("error")
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    actions = sorted(r.action for r in out["records"])
    assert "resumed" in actions and len(actions) == 2, actions
    for seed in (0, 1):
        _same_run(local.out / "Point" / "baby" / f"seed{seed}", runs[seed])
    # everything done: the same command again trains nothing
    again = run_ablation(cfg, progress=False, ray="local")
    assert [r.action for r in again] == ["skipped", "skipped"]


def test_bad_clusters_are_refused_before_anything_is_written(tmp_path, capsys):
    assert _ray_flag(["ablate", "c.toml", "--ray"]) == ["ablate", "c.toml", "--ray", "local"]
    assert _ray_flag(["ablate", "c.toml", "--ray", "--no-progress"])[3] == "local"
    cfg = _config(tmp_path / "abl")
    with pytest.raises(ConnectionError, match="no Ray cluster answers at '127.0.0.1:9'"):
        run_ablation(cfg, progress=False, ray="127.0.0.1:9")
    assert not cfg.out.exists()
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'out = "{tmp_path / "cli"}"\nparent = "scripted"\nlevels = ["Point"]\nseeds = 1\n'
        "steps = 512\n[modes.baby]\n"
    )
    with pytest.raises(SystemExit) as e:
        main(["ablate", str(toml), "--ray", "127.0.0.1:9", "--no-progress"])
    assert e.value.code == 2
    assert "no Ray cluster answers at '127.0.0.1:9'" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_a_run_that_fails_on_the_cluster_stops_the_ablation_resumably(tmp_path):
    cfg = _config(tmp_path / "abl", steps=64)
    bad = plan_runs(cfg)[1]
    bad.path.mkdir(parents=True)
    (bad.path / "config.json").write_text(json.dumps(bad.config.to_dict()))
    (bad.path / "checkpoint.pt").write_bytes(b"not a checkpoint")  # its task raises
    with pytest.raises(ClusterError, match=r"run .*seed1 failed on the cluster .* rerun the same"):
        run_ablation(cfg, progress=False, ray="local")
