"""SIGINT / SIGTERM during recovery: exit 130 / 143, previous artifacts intact, no temporary files left."""

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

ROOT = Path(__file__).resolve().parents[2]


def _interrupt(args: list[str], ready: str, sig: int, code: int) -> None:
    """Run ``eegdeploy ARGS``, send ``sig`` a second after a line containing ``ready`` (inside the training loop),
    and check the exit: ``code``, one line on stderr, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    # A pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored across exec (Python then installs
    # no KeyboardInterrupt handler): the child gets the default disposition back, as from a terminal.
    proc = subprocess.Popen([sys.executable, "-m", "eegdeploy", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if ready in line:
            break
    assert ready in seen, seen + proc.stderr.read()
    time.sleep(1.0)  # inside the training loop
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_interrupt_during_recovery_keeps_previous_artifacts(tmp_path, sig, code):
    prof = load_profile("eegnet-deap")
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), tmp_path / "m.pt")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((64, *prof.input.shape)).astype(np.float32), y=np.arange(64) % 2)
    out = tmp_path / "out"
    out.mkdir()
    previous = {"report.json": b'{"schema": 1, "previous": true}', "slim.onnx": b"old model bytes"}
    for name, data in previous.items():
        (out / name).write_bytes(data)
    _interrupt(["compress", str(ckpt), "--data", str(tmp_path / "d.npz"), "--epochs", "500", "--out", str(out)],
               "recover", sig, code)
    assert sorted(p.name for p in out.iterdir()) == sorted(previous)
    for name, data in previous.items():
        assert (out / name).read_bytes() == data
    assert not list(tmp_path.rglob(".eegdeploy-tmp-*"))


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_interrupted_train_keeps_the_checkpoint_it_would_replace(tmp_path, sig, code):
    """Issue 13: a week's baseline must survive a Ctrl-C (or a kill) of the run that would replace it."""
    prof = load_profile("eegnet-bci")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((48, *prof.input.shape)).astype(np.float32),
             y=np.arange(48) % 2)
    model = tmp_path / "model.pt"
    model.write_bytes(b"a good checkpoint from last week" * 100)
    _interrupt(["train", "--profile", "eegnet-bci", "--data", str(tmp_path / "d.npz"), "--epochs", "5000",
                "--out", str(model)], "training eegnet-bci", sig, code)
    assert model.read_bytes() == b"a good checkpoint from last week" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "model.pt"]
