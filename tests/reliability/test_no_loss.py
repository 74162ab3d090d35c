"""A failed, interrupted or refused run never changes what the user already had (issue 13).

Every command that writes is run in-process against destinations pre-created with known bytes:
- with a bad input (refused before any work: exit 2);
- interrupted (KeyboardInterrupt, as Ctrl-C raises it; exit 130) the moment its first artifact would be moved
  onto a destination, when every temporary file of the run exists;
- terminated (the SIGTERM handler's exception; exit 143) once its first temporary file or staging folder
  exists beside the destination (the writability probe does not count), at the run's next file operation;
- with the disk full while it writes (exit 2, one line naming the folder and the space).
Afterwards each destination holds its old bytes, no file was added and no temporary file is left.
Real signals against real processes are in test_interrupt.py.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from eegdeploy.cli import Terminated, main
from eegdeploy.io import TMP_PREFIX

ROOT = Path(__file__).resolve().parents[2]
ARCH = ["--arch", "tests.cli.netdefs:SmallCNN", "--arch-kwargs", '{"channels": 4}', "--input-shape", "1,4,32"]


@dataclass
class Case:
    id: str
    args: Callable[[Path], list[str]]  # given the user's folder, the command line
    bad: list[str]  # extra arguments that make it a refused input
    outputs: list[str]  # destinations (relative to the user's folder) pre-created with known bytes


def _npz(path: Path, shape: tuple[int, ...], n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1] += 0.5
    np.savez(path, X=X, y=y)
    return path


def _inputs(d: Path) -> None:
    """The user's inputs: a small own-CNN state_dict and data, eegnet-bci data, an ONNX file, a bench JSON."""
    sys.path.insert(0, str(ROOT))
    from tests.cli.netdefs import SmallCNN

    torch.manual_seed(0)
    torch.save(SmallCNN(channels=4).state_dict(), d / "m.pt")
    _npz(d / "d.npz", (1, 4, 32))
    _npz(d / "bci.npz", (1, 2, 750), n=16)
    _onnx(d / "m.onnx")
    (d / "bench-a.json").write_text(json.dumps({
        "kind": "eegdeploy-bench", "version": 1, "file": "m.onnx", "environment": {"cpu": "x", "threads": 1},
        "latency_ms": {"ort-cpu": {"1": {"p50": 1.0, "p90": 1.1, "p99": 1.2}}}}))


def _onnx(path: Path) -> None:
    from eegdeploy.export import ExportConfig, export_onnx

    export_onnx(torch.nn.Linear(6, 2).eval(), path, ExportConfig(), example=torch.zeros(1, 6))


FAST = ["--iters", "2", "--batch", "1"]
COMPRESS_OUT = ["report.json", "report.md", "model-card.md", "baseline.onnx", "slim.onnx", "slim.pt",
                "test-vectors.npz", "comparison.png", "channels.png"]

CASES = [
    Case("train", lambda d: ["train", "--profile", "eegnet-bci", "--data", str(d / "bci.npz"), "--epochs", "1",
                             "--out", str(d / "model.pt")],
         ["--data", "nope.npz"], ["model.pt"]),
    Case("compress", lambda d: ["compress", str(d / "m.pt"), *ARCH, "--data", str(d / "d.npz"), "--epochs", "1",
                                *FAST, "--out", str(d / "out")],
         ["--data", "nope.npz"], [f"out/{n}" for n in COMPRESS_OUT]),
    Case("export", lambda d: ["export", str(d / "m.pt"), *ARCH, "--data", str(d / "d.npz"), "--int8", "--fp16",
                              "--iters", "2", "--bench-batches", "1", "--out", str(d / "m.onnx")],
         ["--data", "nope.npz"], ["m.onnx", "m.test-vectors.npz", "m.model-card.md", "m.export.json",
                                  "m.int8.onnx", "m.fp16.onnx"]),
    Case("bench-json", lambda d: ["bench", str(d / "m.onnx"), "--iters", "2", "--batch", "1",
                                  "--json", str(d / "bench.json")],
         ["--batch", "0"], ["bench.json"]),
    Case("report-merge", lambda d: ["report", "merge", "--out", str(d / "table.md"), str(d / "bench-a.json")],
         [str(ROOT / "pyproject.toml")], ["table.md"]),
    Case("sensitivity", lambda d: ["sensitivity", str(d / "m.pt"), *ARCH, "--data", str(d / "d.npz"),
                                   "--ratios", "0.5", "--out", str(d / "out")],
         ["--data", "nope.npz"], ["out/sensitivity.md", "out/sensitivity.json", "out/sensitivity.png"]),
    Case("sweep", lambda d: ["sweep", str(d / "m.pt"), *ARCH, "--data", str(d / "d.npz"), "--methods", "lfp",
                             "--ratios", "0.5", "--recover", "none", "--iters", "2", "--batch", "1",
                             "--out", str(d / "out")],
         ["--data", "nope.npz"], ["out/sweep.md", "out/aggregate.json", "out/sweep-accuracy-macs.png",
                                  "out/sweep-accuracy-latency.png"]),
    Case("search", lambda d: ["search", str(d / "m.pt"), *ARCH, "--data", str(d / "d.npz"), "--population", "4",
                              "--generations", "1", "--out", str(d / "out")],
         ["--data", "nope.npz"], ["out/front.md", "out/front.png", "out/candidates.json", "out/plan.json"]),
]


def _user_folder(tmp_path: Path, case: Case) -> tuple[Path, dict[str, bytes]]:
    d = tmp_path / "user"
    d.mkdir()
    _inputs(d)
    known = {}
    for i, rel in enumerate(case.outputs):
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = (b"what the user had before: " + rel.encode() + bytes([i])) * 3
        if rel == "m.onnx":  # export's destination is also bench's input: keep a loadable file there
            data = p.read_bytes()
        p.write_bytes(data)
        known[rel] = p.read_bytes()
    (d / "out").mkdir(exist_ok=True)
    (d / "out" / "notes.txt").write_bytes(b"a file of the user's own\n")
    return d, known


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def _check_unchanged(d: Path, before: dict[str, bytes]) -> None:
    after = _files(d)
    temps = [k for k in after if TMP_PREFIX in k] + [str(p) for p in d.rglob(f"{TMP_PREFIX}*")]
    assert temps == []
    assert sorted(after) == sorted(before), "files were added or removed"
    changed = [k for k in before if after[k] != before[k]]
    assert changed == []


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_input_changes_nothing(case, tmp_path, capsys):
    d, _ = _user_folder(tmp_path, case)
    before = _files(d)
    code, err = _run(case.args(d) + case.bad, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eegdeploy: error: "), err
    _check_unchanged(d, before)


class _Inject:
    """Raise ``exc`` at one point of the run, inside the user's folder only."""

    def __init__(self, root: Path, exc: BaseException) -> None:
        self.root, self.exc, self.temps, self.fired = root, exc, 0, False

    def mine(self, path: object) -> bool:
        return path is not None and str(Path(str(path)).absolute()).startswith(str(self.root))

    def fire(self) -> None:
        self.fired = True
        raise self.exc


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("how", ["sigint-at-commit", "sigterm-at-first-temp"])
def test_interruption_changes_nothing(case, how, tmp_path, capsys, monkeypatch):
    d, _ = _user_folder(tmp_path, case)
    before = _files(d)
    inject = _Inject(d, KeyboardInterrupt() if how.startswith("sigint") else Terminated())
    if how == "sigint-at-commit":
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if inject.mine(dst) and TMP_PREFIX not in Path(str(dst)).parent.name:  # onto a destination
                inject.fire()
            return real_replace(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", replace)
    else:
        real_mkstemp, real_mkdtemp, real_chmod = tempfile.mkstemp, tempfile.mkdtemp, os.chmod

        def counted(real):
            def make(*a, **k):
                if inject.temps >= 2 and not inject.fired:  # armed: the run goes on to create the next file
                    inject.fire()
                made = real(*a, **k)
                if inject.mine(k.get("dir")):
                    inject.temps += 1  # the first is the writability probe
                return made
            return make

        def chmod(p, *a, **k):  # atomic writes set the permissions of a complete temporary file
            if inject.temps >= 2 and not inject.fired and inject.mine(p):
                inject.fire()
            return real_chmod(p, *a, **k)

        monkeypatch.setattr(tempfile, "mkstemp", counted(real_mkstemp))
        monkeypatch.setattr(tempfile, "mkdtemp", counted(real_mkdtemp))
        monkeypatch.setattr(os, "chmod", chmod)
    code, err = _run(case.args(d), capsys)
    assert inject.fired, f"the run never reached the injection point (exit {code}): {err}"
    assert code == (130 if how.startswith("sigint") else 143), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    _check_unchanged(d, before)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("train", "export", "bench-json")],
                         ids=lambda c: c.id)
def test_full_disk_is_one_line_and_changes_nothing(case, tmp_path, capsys, monkeypatch):
    """The disk fills while an artifact is written: exit 2, a line naming the folder, what was needed and what is
    free; nothing the user had changes."""
    import eegdeploy.io as io

    d, _ = _user_folder(tmp_path, case)
    before = _files(d)
    real_replace = os.replace

    def replace(src, dst, *a, **k):  # the temporary file is complete: pretend its last block did not fit
        if str(dst).startswith(str(d)) and TMP_PREFIX in Path(str(src)).name:
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(io.os, "replace", replace)
    code, err = _run(case.args(d), capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("eegdeploy: error: no space left on the device holding "), lines[0]
    assert "needs at least " in lines[0] and " free" in lines[0] and "choose another --out" in lines[0]
    _check_unchanged(d, before)
