"""The Ray backend: same aggregated table as the local backend, and a killed sweep redoes no finished cell."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from eegdeploy.config import load_profile
from eegdeploy.models import bundle_from_profile, save_checkpoint
from eegdeploy.sweep import SweepConfig, sweep

ray = pytest.importorskip("ray")
# starts a Ray cluster and runs sweeps; under pytest-xdist (make test: --dist loadfile; the group also holds with
# --dist loadgroup) both tests run on one worker, so two clusters never start at once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]
ROOT = Path(__file__).resolve().parents[2]
DETERMINISTIC = ("method", "ratio", "recover", "n", "accuracy", "accuracy_std", "baseline_accuracy",
                 "params_reduction", "macs_reduction", "flops_reduction")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    prof = load_profile("eegnet-bci")
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), d / "m.pt")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, *prof.input.shape)).astype(np.float32)
    y = np.arange(48) % 2
    X[y == 1, :, 0, :100] += 0.8
    np.savez(d / "d.npz", X=X, y=y)
    return d, ckpt


def _spec(d, ckpt, name):
    return {"checkpoint": str(ckpt), "profile": "eegnet-bci", "data": str(d / "d.npz"), "seed": 0, "epochs": 1,
            "split": "holdout", "folds": 1, "iters": 2, "batches": [2], "out": str(d / name), "threads": 1}


CFG = dict(methods=("lfp", "uwmp"), ratios=(0.3, 0.6), recovers=("finetune",), iters=2, batches=(2,))


def test_ray_backend_matches_local(inputs):
    d, ckpt = inputs
    local = sweep(_spec(d, ckpt, "local"), SweepConfig(**CFG))
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    try:
        remote = sweep(_spec(d, ckpt, "ray"), SweepConfig(**CFG, backend="ray"))
    finally:
        ray.shutdown()
    assert len(local["rows"]) == 4
    strip = lambda t: [{k: r[k] for k in DETERMINISTIC} for r in t["rows"]]  # noqa: E731
    assert strip(remote) == strip(local)
    assert len(list((d / "ray" / "cells").glob("*/report.json"))) == 4


def test_killed_ray_sweep_resumes_without_redoing_cells(inputs):
    d, ckpt = inputs
    out = d / "killed"
    args = [sys.executable, "-m", "eegdeploy", "sweep", str(ckpt), "--data", str(d / "d.npz"), "--methods", "lfp,uwmp",
            "--ratios", "0.3,0.6", "--recover", "finetune", "--epochs", "1", "--iters", "2", "--batch", "2",
            "--backend", "ray", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    state = out / "sweep.json"
    deadline = time.time() + 240
    finished: dict = {}
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            try:
                finished = json.loads(state.read_text())["cells"]
            except (json.JSONDecodeError, KeyError):
                finished = {}
            if len(finished) >= 2:
                break
        time.sleep(0.2)
    assert len(finished) >= 2, proc.stderr.read() if proc.poll() is not None else "no cell finished in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = json.loads(state.read_text())["cells"]
    stamps = {cid: (out / "cells" / cid / "report.json").stat().st_mtime_ns for cid in finished}
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(finished)} already finished, {4 - len(finished)} to run" in again.stdout
    for cid, t in stamps.items():
        assert (out / "cells" / cid / "report.json").stat().st_mtime_ns == t  # not redone
    assert len(json.loads(state.read_text())["cells"]) == 4
