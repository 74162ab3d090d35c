"""Checkpoints choose no code, no paths and no sizes: the trust rules of eegdeploy.models.load_model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from eegdeploy.config import InputSpec, load_profile
from eegdeploy.errors import CheckpointError
from eegdeploy.limits import BudgetError
from eegdeploy.models import Bundle, bundle_from_profile, load_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]

USER_MODULE = '''
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("module code ran")
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, n=6):
        super().__init__()
        self.fc = nn.Linear(n, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))
'''


def _user_checkpoint(tmp_path: Path, name: str) -> Path:
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        cls = importlib.import_module(name).Net
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)
    (tmp_path / "IMPORTED").unlink()
    bundle = Bundle(cls(), f"{name}:Net", {"n": 6}, InputSpec(shape=(6,)), ("a", "b"), None, {})
    return save_checkpoint(bundle, tmp_path / "user.pt")


def test_a_user_architecture_is_imported_only_when_the_user_names_it(tmp_path, monkeypatch):
    path = _user_checkpoint(tmp_path, "eegdeploy_test_usermod_a")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CheckpointError, match=r"outside the torcheeg: and eegdeploy: namespaces.*"
                                              r"--arch eegdeploy_test_usermod_a:Net"):
        load_model(path)
    assert not (tmp_path / "IMPORTED").exists()
    with pytest.raises(CheckpointError, match="outside the torcheeg"):  # a different name does not allow it
        load_model(path, arch="eegdeploy_test_usermod_a:Other")
    assert not (tmp_path / "IMPORTED").exists()
    bundle = load_model(path, arch="eegdeploy_test_usermod_a:Net")
    assert (tmp_path / "IMPORTED").exists()  # the user asked for it
    assert bundle.arch == "eegdeploy_test_usermod_a:Net" and bundle.num_classes == 2
    sys.modules.pop("eegdeploy_test_usermod_a", None)


@pytest.fixture(scope="module")
def ckpt_obj(tmp_path_factory):
    p = save_checkpoint(bundle_from_profile(load_profile("eegnet-deap"), seed=0),
                        tmp_path_factory.mktemp("c") / "m.pt")
    return torch.load(p, weights_only=True)


def _save(tmp_path: Path, obj: dict, **edit) -> Path:
    torch.save({**obj, **edit}, tmp_path / "c.pt")
    return tmp_path / "c.pt"


@pytest.mark.parametrize("arch", ["os:system", "os;import x:M", "builtins:eval", "a.b:C(1)", "", 3])
def test_crafted_arch_names_are_refused_without_import(tmp_path, ckpt_obj, arch):
    with pytest.raises(CheckpointError, match="architecture"):
        load_model(_save(tmp_path, ckpt_obj, arch=arch))


@pytest.mark.parametrize("profile", ["../../etc/passwd", "/abs/x.toml", "a/b", "x\x1b[2J", "..", "p.toml/.."])
def test_a_profile_inside_a_checkpoint_is_a_name_not_a_path(tmp_path, ckpt_obj, profile):
    with pytest.raises(CheckpointError, match="not a plain profile name"):
        load_model(_save(tmp_path, ckpt_obj, profile=profile))


def test_a_plain_profile_label_loads_and_names_a_safe_folder(tmp_path, ckpt_obj):
    bundle = load_model(_save(tmp_path, ckpt_obj, profile="my-own.v2"))
    assert bundle.profile == "my-own.v2" and bundle.name == "my-own.v2"
    bundle.profile = "../../x\x1b]8;;http://e\x07y"
    assert bundle.name == "xy"  # the OSC 8 link is dropped whole; separators and leading dots go


def test_arch_kwargs_that_blow_up_the_model_are_refused_before_allocation(tmp_path, ckpt_obj):
    kw = {**ckpt_obj["arch_kwargs"], "F1": 20000}
    with pytest.raises(BudgetError, match="parameter count"):
        load_model(_save(tmp_path, ckpt_obj, arch_kwargs=kw))
    with pytest.raises(CheckpointError, match="beyond any EEG model"):
        load_model(_save(tmp_path, ckpt_obj, arch_kwargs={**kw, "F1": 10**12}))


def test_an_input_shape_bomb_is_refused(tmp_path, ckpt_obj):
    with pytest.raises(BudgetError, match="input sample size"):
        load_model(_save(tmp_path, ckpt_obj, input={**ckpt_obj["input"], "shape": [1, 32, 10**9]}))


def test_deep_nesting_is_refused(tmp_path, ckpt_obj):
    deep: list = [1]
    for _ in range(200):
        deep = [deep]
    with pytest.raises(CheckpointError, match="nests deeper"):
        load_model(_save(tmp_path, ckpt_obj, metadata={"x": deep}))


@pytest.mark.slow  # a fresh interpreter measuring its peak memory; the refusal itself is tested in-process above
def test_kwargs_bomb_peak_memory_in_a_child_process(tmp_path, ckpt_obj):
    path = _save(tmp_path, ckpt_obj, arch_kwargs={**ckpt_obj["arch_kwargs"], "F1": 4000, "F2": 4000})
    code = ("import resource, sys\n"
            "from eegdeploy.models import load_model\n"
            "from eegdeploy.errors import EegDeployError\n"

            f"try:\n    load_model({str(path)!r})\n    print('loaded')\n"
            "except EegDeployError as e:\n    print('refused', e)\n"
            # VmHWM: this process's peak RSS (ru_maxrss would include the forking parent's memory)
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n")
    for _ in range(2):  # the first run may compile .pyc files (not the loader's memory); measure the second
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("refused"), out.stdout + out.stderr
    assert int(lines[-1]) < 500 * 1024, out.stdout + out.stderr  # VmHWM is in KiB
