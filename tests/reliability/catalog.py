"""The catalog of bad inputs: each row builds its files, runs the real CLI and expects exit code and message.

Run as a script to regenerate docs/errors.md from real runs:
    python tests/reliability/catalog.py --markdown docs/errors.md
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Row:
    id: str
    situation: str
    make: Callable[[Path], list[str]]  # builds files under tmp, returns CLI args (output folder: tmp/out)
    expect: str  # a substring of the one-line message
    code: int = 2
    prelude: str = ""  # Python run before the CLI in the same process (to simulate a full disk)


def _ckpt(tmp: Path, profile: str = "eegnet-deap") -> Path:
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile, save_checkpoint

    return save_checkpoint(bundle_from_profile(load_profile(profile), seed=0), tmp / "model.pt")


def _space_args(tmp: Path, text: str) -> list[str]:
    """supernet on a vit-deap checkpoint with the space file ``text`` (nothing may be written to out/)."""
    (tmp / "space.toml").write_text(text)
    return ["supernet", str(_ckpt(tmp, "vit-deap")), "--space", str(tmp / "space.toml"), "--out",
            str(tmp / "out" / "supernet.pt")]


def _compress(*flags: str, profile: str = "eegnet-deap") -> Callable[[Path], list[str]]:
    """``compress`` on a fresh checkpoint of ``profile`` with ``flags``."""
    return lambda tmp: ["compress", str(_ckpt(tmp, profile)), *flags]


def _train(profile: str) -> Callable[[Path], list[str]]:
    """``train --profile PROFILE`` into tmp/out."""
    return lambda tmp: ["train", "--profile", profile, "--out", str(tmp / "out" / "m.pt")]


def _npz(tmp: Path, X: np.ndarray, y: np.ndarray) -> Path:
    p = tmp / "data.npz"
    np.savez(p, X=X, y=y)
    return p


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil(tmp: Path) -> list[str]:
    with open(tmp / "evil.pt", "wb") as f:
        pickle.dump({"state_dict": Payload(str(tmp / "PWNED"))}, f)
    return ["compress", str(tmp / "evil.pt"), "--profile", "eegnet-deap"]


def _truncated(tmp: Path) -> list[str]:
    data = _ckpt(tmp).read_bytes()
    (tmp / "cut.pt").write_bytes(data[: len(data) // 2])
    return ["compress", str(tmp / "cut.pt")]


def _other_arch(tmp: Path) -> list[str]:
    import torch

    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile

    torch.save(bundle_from_profile(load_profile("eegnet-deap")).module.state_dict(), tmp / "sd.pt")
    return ["compress", str(tmp / "sd.pt"), "--profile", "ccnn-deap"]


def _other_size(tmp: Path) -> list[str]:
    import json

    import torch

    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile

    prof = load_profile("eegnet-deap")
    torch.save(bundle_from_profile(prof).module.state_dict(), tmp / "sd.pt")
    kwargs = {**prof.arch_kwargs, "F1": 4}
    return ["compress", str(tmp / "sd.pt"), "--arch", "torcheeg:EEGNet", "--arch-kwargs", json.dumps(kwargs),
            "--input-shape", "1,32,128"]


def _data(X, y, profile="eegnet-deap"):
    def make(tmp: Path) -> list[str]:
        return ["compress", str(_ckpt(tmp, profile)), "--data", str(_npz(tmp, X, y))]
    return make


def _bad_toml(tmp: Path) -> list[str]:
    (tmp / "broken.toml").write_text('name = "broken"\n[model]\narch = "torcheeg:CCNN"\nkwargs = { in_channels = 4,\n')
    return ["train", "--profile", str(tmp / "broken.toml"), "--out", str(tmp / "out" / "m.pt")]


def _bench_onnx(tmp: Path, content: bytes | None) -> list[str]:
    p = tmp / "m.onnx"
    if content is None:
        import torch

        from eegdeploy.export import ExportConfig, export_onnx

        export_onnx(torch.nn.Linear(6, 2).eval(), p, ExportConfig(), example=torch.zeros(1, 6),
                    metadata={"eegdeploy.input_shape": "batch,4,9,9"})
    else:
        p.write_bytes(content)
    return ["bench", str(p), "--iters", "2", "--json", str(tmp / "out" / "bench.json")]


def _existing(name: str, data: bytes, args: Callable[[Path, Path], list[str]]) -> Callable[[Path], list[str]]:
    """An output file the user already has (tmp/out/NAME): the failed command must leave its bytes alone."""
    def make(tmp: Path) -> list[str]:
        (tmp / "out").mkdir(exist_ok=True)
        (tmp / "out" / name).write_bytes(data)
        return args(tmp, tmp / "out" / name)
    return make


def _text(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _bci_npz(tmp: Path) -> Path:
    return _npz(tmp, _rng.standard_normal((16, 1, 2, 750)).astype(np.float32), np.arange(16) % 2)


# Every write fails as if the disk had filled up at the last block of each file.
FULL_DISK = (
    "import errno, os\n"
    "_replace = os.replace\n"
    "def _full(src, dst, *a, **k):\n"
    "    if '.eegdeploy-tmp-' in os.path.basename(str(src)):\n"
    "        raise OSError(errno.ENOSPC, 'No space left on device', str(src))\n"
    "    return _replace(src, dst, *a, **k)\n"
    "os.replace = _full\n")


def _own(tmp: Path) -> Path:
    """A newcomer's own CNN (tests.cli.netdefs:MyNet, 4 electrodes x 32 samples) as a state_dict."""
    import torch

    sys.path.insert(0, str(ROOT))
    from tests.cli.netdefs import MyNet

    torch.save(MyNet().state_dict(), tmp / "own.pt")
    return tmp / "own.pt"


def _own_args(tmp: Path, shape: str = "1,4,32", arch: str = "tests.cli.netdefs:MyNet") -> list[str]:
    return ["compress", str(_own(tmp)), "--arch", arch, "--input-shape", shape]


def _own_data(tmp: Path) -> Path:
    return _npz(tmp, _rng.standard_normal((24, 1, 4, 32)).astype(np.float32), np.arange(24) % 2)


def _unwritable(tmp: Path) -> list[str]:
    (tmp / "afile").write_text("x")
    return ["compress", str(_ckpt(tmp)), "--out", str(tmp / "afile" / "out")]


def _edited_ckpt(**edit):
    def make(tmp: Path) -> list[str]:
        import torch

        obj = torch.load(_ckpt(tmp), weights_only=True)
        torch.save({**obj, **edit}, tmp / "edited.pt")
        return ["compress", str(tmp / "edited.pt")]
    return make


def _crafted_slim(tmp: Path) -> list[str]:
    import torch
    import torch.nn as nn

    from eegdeploy.models.portable import to_portable

    obj = to_portable(nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), meta={"input": {"shape": [6]}})
    obj["graph"][1]["op"] = "call_function"  # would write PWNED if any string of the file reached exec
    obj["graph"][1]["target"] = "__import__('pathlib').Path('PWNED').write_text('ran')"
    torch.save(obj, tmp / "slim.pt")
    return ["inspect", str(tmp / "slim.pt")]


def _bomb(builder: str, command: Callable[[Path, Path], list[str]]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        sys.path.insert(0, str(ROOT))
        from tests.reliability import bombs

        return command(tmp, getattr(bombs, builder)(tmp))
    return make


def _planted_sweep_state(tmp: Path) -> list[str]:
    import json

    (tmp / "sw").mkdir()
    cell = {"method": "lfp", "ratio": 0.5, "recover": "finetune", "fold": 0}
    (tmp / "sw" / "sweep.json").write_text(json.dumps({"kind": "eegdeploy-sweep", "version": 1, "spec": {},
                                                       "cells": {"lfp-r0.5-none-f0": {"cell": cell, "skipped": "x"}}}))
    return ["sweep", str(_ckpt(tmp)), "--methods", "lfp", "--ratios", "0.5", "--recover", "finetune",
            "--out", str(tmp / "sw")]


_rng = np.random.default_rng(0)
_X = _rng.standard_normal((40, 1, 32, 128)).astype(np.float32)
_y = np.arange(40) % 2

ROWS: list[Row] = [
    Row("missing-file", "the model file does not exist",
        lambda t: ["compress", str(t / "nope.pt"), "--profile", "ccnn-deap"], "not found"),
    Row("empty-file", "the model file is empty",
        lambda t: ((t / "empty.pt").write_bytes(b""), ["compress", str(t / "empty.pt"), "--profile", "ccnn-deap"])[1],
        "empty"),
    Row("random-bytes", "the model file is random bytes",
        lambda t: ((t / "r.pt").write_bytes(os.urandom(2048)), ["compress", str(t / "r.pt"), "--profile", "ccnn-deap"])[1],
        "checkpoint"),
    Row("truncated", "a truncated eegdeploy checkpoint", _truncated, "checkpoint"),
    Row("pickle-code", "a pickle that would run code when loaded (refused; the payload does not run)", _evil,
        "--trust-pickle"),
    Row("wrong-arch", "a state_dict for another architecture", _other_arch, "missing key"),
    Row("wrong-shape", "a state_dict whose tensors do not fit (same architecture, other sizes)", _other_size,
        "shape"),
    Row("input-shape", "an input shape the model rejects", _compress("--input-shape", "1,7,9"), "input"),
    Row("nan-data", "NaN or Inf in the data", _data(np.where(_y[:, None, None, None] == 0, np.nan, _X), _y), "NaN"),
    Row("labels-range", "labels outside the class range", _data(_X, np.arange(40) % 3), "labels range"),
    Row("one-class", "a dataset with one class only", _data(_X, np.zeros(40, dtype=np.int64)), "class 0"),
    Row("empty-data", "an empty dataset", _data(_X[:0], _y[:0]), "empty"),
    Row("ratio-zero", "ratio <= 0", _compress("--ratio", "0"), "ratio"),
    Row("ratio-one", "ratio >= 1", _compress("--ratio", "1"), "ratio"),
    Row("ratio-depth-one", "a depth ratio of 1 (every residual block)", _compress("--ratio-depth", "1"), "ratio_depth"),
    Row("ratio-depth-uwmp", "a depth ratio with the unstructured method",
        _compress("--method", "uwmp", "--ratio-depth", "0.5"), "need a structured method"),
    Row("round-to-zero", "compress --round-to below 1", _compress("--round-to", "0"), "round-to"),
    Row("optimize-batch-zero", "export --optimize with a timing batch below 1",
        lambda t: ["export", str(_ckpt(t)), "--optimize", "--optimize-batch", "0", "--out", str(t / "out" / "m.onnx")],
        "optimize-batch"),
    Row("unknown-method", "an unknown method", _compress("--method", "magic"), "unknown method"),
    Row("unknown-profile", "an unknown profile", _train("nope"), "nope"),
    Row("unknown-device", "an unknown device profile",
        lambda t: _bench_onnx(t, None)[:2] + ["--device-profile", "toaster"], "toaster"),
    Row("bad-toml", "a malformed profile TOML", _bad_toml, "line"),
    Row("nsfp-no-bn", "nsfp on a model without BatchNorm",
        _compress("--method", "nsfp", profile="ccnn-deap"), "BatchNorm"),
    Row("untraceable", "a model the slimming analysis cannot handle (data-dependent control flow)",
        lambda t: ["compress", str(_save_branchy(t)), "--arch", "tests.cli.netdefs:Branchy",
                   "--input-shape", "1,6,6"], "branches on tensor values"),
    Row("unwritable-out", "an output folder that cannot be written", _unwritable, "out"),
    Row("corrupt-onnx", "a corrupt ONNX file for bench", lambda t: _bench_onnx(t, b"\x08\x01garbage" * 20), "onnx"),
    Row("onnx-rank", "an ONNX file whose input rank does not match its metadata", lambda t: _bench_onnx(t, None),
        "rank"),
    Row("inspect-empty-onnx", "an empty .onnx file for inspect",
        lambda t: ["inspect", str(_bench_onnx(t, b"")[1])], "not an ONNX model"),
    # Issue 17: every input is checked before any stage runs, and hints name the right flag.
    Row("plan-missing", "compress --plan names a file that does not exist (refused before the baseline stage)",
        lambda t: ["compress", str(_ckpt(t)), "--plan", str(t / "plan.json")], "plan file"),
    # Issue 18: a transformer search space file is checked against the model before any training.
    Row("space-heads", "a search space file asking for more heads than the model has (supernet / search --space)",
        lambda t: _space_args(t, "heads = [2, 9]\n"), "not a head count between 1 and 4"),
    Row("space-mlp-ratio", "a search space file whose MLP ratio gives a width the model cannot take",
        lambda t: _space_args(t, "mlp_ratio = [0.5, 5.0]\n"), "outside 1..64"),
    Row("space-unknown-key", "a search space file with a key the space does not know",
        lambda t: _space_args(t, "width = [16]\n"), "unknown key 'width'"),
    Row("space-drop", "a search space file whose depth choice (drop) is not true or false",
        lambda t: _space_args(t, "drop = \"yes\"\n"), "drop must be true or false"),
    Row("data-missing", "--data names a file that does not exist",
        lambda t: ["compress", str(_ckpt(t)), "--data", str(t / "nope.npz")], "does not exist"),
    Row("input-shape-arity", "--input-shape with too few numbers for the model's first layer",
        lambda t: _own_args(t, "4,32"), "--input-shape 1,4,32"),
    Row("input-shape-order", "--input-shape with electrodes and time swapped relative to the data",
        lambda t: _own_args(t, "1,32,4") + ["--data", str(_own_data(t))], "--input-shape 1,4,32"),
    Row("data-for-other-model", "data recorded for another montage than the profile's (22 x 500 for eegnet-bci)",
        lambda t: ["compress", str(_ckpt(t, "eegnet-bci")), "--data",
                   str(_npz(t, _rng.standard_normal((24, 22, 500)).astype(np.float32), np.arange(24) % 2))],
        "--input-shape 1,22,500"),
    Row("arch-class-missing", "--arch names a module that exists and a class it does not have",
        lambda t: _own_args(t, arch="tests.cli.netdefs:Mynet"), "did you mean --arch tests.cli.netdefs:MyNet"),
    Row("arch-module-missing", "--arch names a module that cannot be imported",
        lambda t: _own_args(t, arch="mynett:MyNet"), "cannot import module"),
    Row("method-case", "a method name in the wrong case", _compress("--method", "NSFP"), "did you mean 'nsfp'"),
    Row("method-typo", "a misspelt method", _compress("--method", "nsfpp"), "did you mean 'nsfp'"),
    Row("profile-typo", "a profile name with _ for -", _train("eegnet_bci"), "did you mean 'eegnet-bci'"),
    Row("out-under-a-file", "train --out inside a path that is a file",
        lambda t: ((t / "afile").write_text("x"), ["train", "--profile", "eegnet-bci", "--out",
                                                   str(t / "afile" / "m.pt")])[1], "is a file"),
    # Issue 13: a refused or failed run leaves an existing destination byte-identical, and no temporary file.
    Row("train-keeps-checkpoint", "train with a missing --data and an existing checkpoint at --out (the checkpoint "
        "is left byte-identical)",
        _existing("model.pt", b"last week's checkpoint", lambda t, o: [
            "train", "--profile", "eegnet-bci", "--data", str(t / "nope.npz"), "--out", str(o)]), "does not exist"),
    Row("bench-keeps-json", "bench with a bad --batch and an existing --json file (left byte-identical)",
        _existing("bench.json", b'{"kind": "eegdeploy-bench"}', lambda t, o: [
            *_bench_onnx(t, None)[:2], "--batch", "0", "--json", str(o)]), "batch"),
    Row("merge-keeps-out", "report merge of a file that is not a result, with an existing --out (left "
        "byte-identical)",
        _existing("table.md", b"| old table |", lambda t, o: [
            "report", "merge", str(_text(t, "notes.json", "not json")), "--out", str(o)]), "not JSON"),
    Row("full-disk", "the disk fills up while train writes the checkpoint (simulated; the existing checkpoint "
        "is left byte-identical)",
        _existing("model.pt", b"last week's checkpoint", lambda t, o: [
            "train", "--profile", "eegnet-bci", "--data", str(_bci_npz(t)), "--epochs", "1", "--out", str(o)]),
        "no space left", prelude=FULL_DISK),
    # files are data: no code, no paths, no terminal escapes, no unbounded sizes (docs/export.md, "Trust model")
    Row("slim-code", "a crafted slim.pt whose graph names Python code (refused; the code never runs)", _crafted_slim,
        "not allowed"),
    Row("arch-untrusted", "a checkpoint naming an architecture outside torcheeg:/eegdeploy: (nothing is imported)",
        _edited_ckpt(arch="os:system"), "--arch os:system"),
    Row("profile-path", "a checkpoint whose profile field is a path", _edited_ckpt(profile="../../outside"),
        "not a plain profile name"),
    Row("escape-sequences", "terminal escape sequences and Rich markup in a file's strings (stripped from the message)",
        _edited_ckpt(arch="torcheeg:\x1b]0;owned\x07\x1b[2J[bold]CCNN"), "invalid architecture"),
    Row("sweep-state", "a sweep.json whose entries do not match its schema (nothing is skipped on its word)",
        _planted_sweep_state, "not a valid sweep state"),
    Row("bomb-slim-layers", "slim.pt (2.5 KB) whose layer arguments declare 10 G parameters",
        _bomb("slim_layer_bomb", lambda t, p: ["inspect", str(p)]), "parameter count"),
    Row("bomb-slim-repeat", "slim.pt (2.7 KB) whose graph repeats its input 60000 x 60000 times",
        _bomb("slim_repeat_bomb", lambda t, p: ["inspect", str(p)]), "over the limit"),
    Row("slim-aten-code", "a crafted ATen-kind slim.pt whose step names Python code instead of an ATen operation",
        _bomb("slim_aten_op", lambda t, p: ["inspect", str(p)]), "not in the whitelist of ATen operations"),
    Row("slim-aten-path", "a crafted ATen-kind slim.pt whose tensor names are paths",
        _bomb("slim_aten_path", lambda t, p: ["inspect", str(p)]), "not a plain attribute path"),
    Row("slim-aten-prune", "compress on an ATen-kind slim.pt (its graph stores its layer widths; refused before any "
        "work)", _bomb("aten_slim", lambda t, p: ["compress", str(p), "--out", str(t / "out")]),
        "cannot be pruned again"),
    Row("bomb-slim-aten-repeat", "ATen-kind slim.pt (2.6 KB) whose graph repeats its input 60000 x 60000 times",
        _bomb("slim_aten_repeat_bomb", lambda t, p: ["inspect", str(p)]), "over the limit"),
    Row("bomb-slim-fanout", "slim.pt (68 KB) sharing one list 4096 times at each of 8 levels (4096^8 paths)",
        _bomb("slim_aten_fanout_bomb", lambda t, p: ["inspect", str(p)]), "holds more than"),
    Row("bomb-arch-kwargs", "a checkpoint whose arch_kwargs ask for a model far larger than its tensors",
        _edited_ckpt(arch_kwargs={"chunk_size": 128, "num_electrodes": 32, "F1": 20000, "F2": 16, "D": 2,
                                  "num_classes": 2, "kernel_1": 64, "kernel_2": 16, "dropout": 0.25}),
        "parameter count"),
    Row("bomb-pt-zip", "a .pt (1 MB) whose zip member inflates to 1 GB",
        _bomb("pt_zip_bomb", lambda t, p: ["compress", str(p), "--profile", "ccnn-deap"]), "expands"),
    Row("bomb-npz", "an .npz (1.1 MB) whose X inflates to 1 GB",
        _bomb("npz_bomb", lambda t, p: ["compress", str(_ckpt(t)), "--data", str(p)]), "expands"),
    Row("bomb-npz-header", "an .npz whose array header declares 16 GB in a 200-byte member",
        _bomb("npz_header_bomb", lambda t, p: ["compress", str(_ckpt(t)), "--data", str(p)]), "declares shape"),
    Row("bomb-deap-memo", "a DEAP .dat (76 KB) whose data list references one row 48,000 times (3.9 GB as an array)",
        _bomb("deap_memo_bomb", lambda t, p: ["compress", str(_ckpt(t)), "--data", f"deap:{p}"]),
        "not a numeric array"),
    Row("bomb-onnx-dims", "an ONNX file (99 B) declaring input [batch, 100000, 100000] for bench",
        _bomb("onnx_dims_bomb", lambda t, p: ["bench", str(p), "--iters", "1"]), "input sample size"),
    Row("deep-toml", "a profile TOML nested 5000 levels deep", _bomb(
        "deep_toml", lambda t, p: ["train", "--profile", str(p), "--out", str(t / "out" / "m.pt")]), "nests deeper"),
    Row("deep-json", "a bench JSON nested 100000 levels deep for report merge",
        _bomb("deep_json", lambda t, p: ["report", "merge", str(p)]), "nests deeper"),
]


def _realistic(spec: str) -> Callable[[Path], list[str]]:
    """``train --data synthetic:realistic:SPEC``: the options are checked before any data is generated."""
    return lambda t: ["train", "--profile", "eegnet-deap", "--data", f"synthetic:realistic:{spec}", "--out",
                      str(t / "out" / "m.pt")]


ROWS += [  # synthetic:realistic options (issue 19)
    Row("realistic-zero-subjects", "`--data synthetic:realistic:subjects=0`", _realistic("subjects=0"),
        "subjects=0 is not a positive integer"),
    Row("realistic-unknown-option", "`--data synthetic:realistic:` with an unknown option (`colour=red`)",
        _realistic("colour=red"), "option 'colour=red' is not key=value with a known key"),
    Row("realistic-bad-value", "`--data synthetic:realistic:` with a value of the wrong type (`trials=many`)",
        _realistic("trials=many"), "trials='many' is not a whole number"),
    Row("realistic-unsupported-input", "`--data synthetic:realistic` for a profile whose input it cannot make "
        "(mtcnn-deap's feature grid)", lambda t: ["train", "--profile", "mtcnn-deap", "--data",
                                                  "synthetic:realistic:subjects=1,trials=2,seconds=4", "--out",
                                                  str(t / "out" / "m.pt")],
        "cannot make profile 'mtcnn-deap''s input"),
]


def _save_branchy(tmp: Path) -> Path:
    import torch

    sys.path.insert(0, str(ROOT))
    from tests.cli.netdefs import Branchy

    torch.save(Branchy().state_dict(), tmp / "b.pt")
    return tmp / "b.pt"


def prepare(row: Row, tmp: Path) -> list[str]:
    """Build the row's files under ``tmp``; the command line to run."""
    args = row.make(tmp)
    if "--out" not in args and args[0] in ("compress", "export", "sweep", "search", "sensitivity"):
        args = args + ["--out", str(tmp / "out")]
    return args


def run_args(row: Row, args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    if row.prelude:
        cmd = [sys.executable, "-c", row.prelude + "import sys\nfrom eegdeploy.cli import main\n"
               "sys.exit(main(sys.argv[1:]))", *args]
    else:
        cmd = [sys.executable, "-m", "eegdeploy", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp)


def run_row(row: Row, tmp: Path) -> subprocess.CompletedProcess:
    return run_args(row, prepare(row, tmp), tmp)


def run_args_in_process(row: Row, args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """The row through ``eegdeploy.cli.main`` in this process (same parser, same error handling, no interpreter
    start-up or torch import per row): the fast tier's form of the catalog. A row's prelude may patch the ``os``
    module (a full disk); whatever it rebinds there is restored after the row."""
    import contextlib
    import io

    from eegdeploy.cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    saved = dict(vars(os))
    os.chdir(tmp)
    try:
        if row.prelude:
            exec(row.prelude, {})  # noqa: S102 - the catalog's own constant, not input
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli_main(args)
            except SystemExit as exc:  # argparse's own usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        for name, value in saved.items():
            if getattr(os, name, None) is not value:
                setattr(os, name, value)
        os.chdir(cwd)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", default="docs/errors.md")
    args = ap.parse_args(argv)
    lines = ["# Errors: the bad-input catalog", "",
             "Every row is a test in `tests/reliability/test_catalog.py` that runs the real CLI and checks the exit "
             "code, a single stderr line without a traceback, and an output folder left exactly as it was. This page "
             "is generated from real runs by `python tests/reliability/catalog.py --markdown docs/errors.md`.", "",
             "**A failed run changes nothing you already had.** Every command that writes (`train`, `compress`, "
             "`export` with its int8/fp16/test-vector/model-card files, `bench --json`, `report merge --out`, "
             "`sensitivity`, `sweep`, `search`, `demo`, and every plot) checks that its destination can be written "
             "by creating and removing a temporary file beside it, writes everything to temporary files or a "
             "staging folder beside the destination, and moves them into place only when the run succeeded "
             "(Ctrl-C and SIGTERM are held during the final renames). After a refused input, a failure, an "
             "interruption (SIGINT, SIGTERM) or a full disk, an existing destination is byte-identical, no "
             "temporary file (`.eegdeploy-tmp-*`) is left, and folders the run created are removed again. A sweep "
             "records each finished cell in `sweep.json` as it goes, so a rerun resumes; an interrupted cell leaves "
             "nothing. `tests/reliability/test_no_loss.py` checks this for every command and output, and the rows "
             "below marked *left byte-identical* check it through the real CLI.", "",
             "Exit codes: 0 success, 2 bad input, 1 internal failure (a short hint; the traceback only with "
             "`--debug`), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).", "",
             "| situation | exit | message printed |", "|---|---|---|"]
    for row in ROWS:
        with tempfile.TemporaryDirectory() as d:
            res = run_row(row, Path(d))
        msg = res.stderr.strip().replace(d, "…").replace(str(ROOT) + "/", "").replace("|", "\\|")
        lines.append(f"| {row.situation} | {res.returncode} | `{msg}` |")
        print(row.id, res.returncode, msg[:100], flush=True)
    sys.path.insert(0, str(ROOT))
    from eegdeploy.limits import LIMITS

    lines += ["", "## Size limits", "",
              "Loaders compare what a file declares with these budgets before they allocate (`eegdeploy/limits.py`; "
              "activation and FLOP budgets are per sample of the batch). They are far above what EEG models need: "
              "the largest shipped profile model, ccnn-deap, has 6.2 M parameters. "
              "Past a limit the load is refused with one line and exit 2; the `bomb-*` rows above show each.", "",
              "| limit | value | what it bounds |", "|---|---|---|"]
    lines += [f"| `{name}` | {value:,} | {what} |" for name, (value, what) in LIMITS.items()]
    Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
