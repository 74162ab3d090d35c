"""eegdeploy export through the real CLI: every torcheeg CNN profile, bad input, atomicity, fallback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from eegdeploy.config import load_profile
from eegdeploy.export import check_test_vectors
from eegdeploy.models import bundle_from_profile, save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from conftest import run_cli  # noqa: E402  (tests/cli/conftest.py)

TORCHEEG_CNNS = ["ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHEEG_CNNS)
def test_export_each_torcheeg_profile(name, tmp_path):
    prof = load_profile(name)
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), tmp_path / "m.pt")
    res = run_cli("export", str(ckpt), "--out", str(tmp_path / "out" / "m.onnx"), "--no-bench")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    assert _files(out) == ["m.export.json", "m.model-card.md", "m.onnx", "m.test-vectors.npz"]  # no temp leftovers
    record = json.loads((out / "m.export.json").read_text())
    assert record["exporter"] == "torchscript" and record["parity_max_abs"] <= 1e-4
    assert {"random batch 1", "random batch 16", "real samples (32)"} <= set(record["parity"])
    m = onnx.load(str(out / "m.onnx"))
    onnx.checker.check_model(m)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["eegdeploy.class_names"] == ",".join(prof.class_names)
    assert meta["eegdeploy.electrodes"] == ",".join(prof.input.electrodes)
    assert meta["eegdeploy.sampling_rate_hz"] == f"{prof.input.sampling_rate:g}"
    assert meta["eegdeploy.input_layout"] == "0=batch, " + ", ".join(f"{i + 1}={a}" for i, a in enumerate(prof.input.layout))
    assert meta["eegdeploy.preprocessing"] == prof.input.preprocessing and "eegdeploy.version" in meta
    assert 0 <= float(meta["eegdeploy.accuracy"]) <= 1 and "test split" in meta["eegdeploy.accuracy_data"]
    assert check_test_vectors(out / "m.onnx", out / "m.test-vectors.npz") <= 1e-5
    card = (out / "m.model-card.md").read_text()
    assert f"shape `[batch, {', '.join(map(str, prof.input.shape))}]`" in card and prof.class_names[0] in card
    # accuracy of the file (onnxruntime) and of the model (torch) on the same test split: parity makes them agree
    assert record["accuracy"]["onnx"] == pytest.approx(record["accuracy"]["torch"], abs=1.5 / 100)
    assert meta["eegdeploy.accuracy"] == f"{record['accuracy']['torch']:.4f}"


@pytest.mark.slow
def test_export_of_a_portable_slim_model_keeps_its_recipe(tmp_path):
    from eegdeploy.models.portable import save_portable
    from eegdeploy.prune import LFPConfig, prune, slim

    prof = load_profile("eegnet-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.zeros(1, *prof.input.shape)
    small = slim(model, prune(model, LFPConfig(0.5), example=x), x)
    meta = {"input": prof.input.to_dict(), "class_names": list(prof.class_names), "profile": prof.name,
            "source_arch": prof.arch, "recipe": {"method": "lfp", "ratio": 0.5, "recover": "none", "seed": 0},
            "onnx_metadata": {"eegdeploy.recipe": "method=lfp ratio=0.5 recover=none seed=0",
                              "eegdeploy.accuracy_baseline": "0.7500", "eegdeploy.accuracy_slim": "0.7000"}}
    save_portable(small, x, tmp_path / "slim.pt", meta=meta)
    res = run_cli("export", str(tmp_path / "slim.pt"), "--out", str(tmp_path / "slim.onnx"), "--bench-batches", "1",
                  "--iters", "3")
    assert res.returncode == 0, res.stderr
    meta_back = {p.key: p.value for p in onnx.load(str(tmp_path / "slim.onnx")).metadata_props}
    assert meta_back["eegdeploy.recipe"] == "method=lfp ratio=0.5 recover=none seed=0"
    assert meta_back["eegdeploy.accuracy_baseline"] == "0.7500" and meta_back["eegdeploy.accuracy_slim"] == "0.7000"
    card = (tmp_path / "slim.model-card.md").read_text()
    assert "# Model card: eegnet-deap (slim)" in card and "from `torcheeg:EEGNet` (method lfp, ratio 0.5" in card
    assert "| test accuracy, baseline | 75.0% |" in card and "| ort-cpu | 1 |" in card


def _ckpt(tmp: Path) -> Path:
    return save_checkpoint(bundle_from_profile(load_profile("eegnet-deap"), seed=0), tmp / "m.pt")


BAD = {
    "missing-model": (lambda t: ["export", str(t / "nope.pt")], "not found"),
    "opset": (lambda t: ["export", str(_ckpt(t)), "--opset", "99"], "opset"),
    "batch": (lambda t: ["export", str(_ckpt(t)), "--batch", "0"], "batch"),
    "exporter": (lambda t: ["export", str(_ckpt(t)), "--exporter", "magic"], "torchscript"),
    "out-folder": (lambda t: ["export", str(_ckpt(t)), "--out", str(t)], "is a folder"),
    "int8-fixed-batch": (lambda t: ["export", str(_ckpt(t)), "--int8", "--batch", "4"], "dynamic batch"),
    "wrong-data": (lambda t: ["export", str(_ckpt(t)), "--data", str(_npz(t))], "shape"),
}


def _npz(tmp: Path) -> Path:
    np.savez(tmp / "d.npz", X=np.zeros((40, 4, 9, 9), np.float32), y=np.arange(40) % 2)
    return tmp / "d.npz"


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path):
    make, words = BAD[case]
    args = make(tmp_path)
    before = _files(tmp_path)
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eegdeploy: error: ") and "Traceback" not in res.stderr
    assert words in lines[0]
    assert _files(tmp_path) == before


def _tiny_args(tmp: Path) -> list[str]:
    from tests.cli.netdefs import SmallCNN

    torch.manual_seed(0)
    torch.save(SmallCNN().state_dict(), tmp / "sd.pt")
    return [str(tmp / "sd.pt"), "--arch", "tests.cli.netdefs:SmallCNN", "--input-shape", "1,4,16", "--no-bench"]


@pytest.mark.slow
def test_parity_failure_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    from eegdeploy.cli import main
    from eegdeploy.export import onnx_export

    real = onnx_export._parity
    monkeypatch.setattr(onnx_export, "_parity",  # a tolerance the real differences cannot meet
                        lambda *a: ({k: v + 2e-4 for k, v in real(*a)[0].items()}, []))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    args = _tiny_args(tmp_path)
    before = _files(tmp_path)
    code = main(["export", *args, "--out", str(tmp_path / "new" / "m.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "does not match PyTorch" in err[0] and "nothing was written" in err[0]
    assert _files(tmp_path) == before  # no .onnx, no vectors, no card, no staging folder, not even "new/"


@pytest.mark.slow
def test_the_fallback_exporter_is_used_and_named_in_the_report(tmp_path, monkeypatch, capsys):
    from eegdeploy.cli import main
    from eegdeploy.export import onnx_export

    real = onnx_export._attempt

    def torchscript_crashes(model, example, exporter, cfg, workdir):
        if exporter == "torchscript":
            return None, None, "torchscript: crashed (signal 11)"
        return real(model, example, exporter, cfg, workdir)

    monkeypatch.setattr(onnx_export, "_attempt", torchscript_crashes)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    code = main(["export", *_tiny_args(tmp_path), "--out", str(tmp_path / "m.onnx")])
    out = capsys.readouterr().out
    assert code == 0
    record = json.loads((tmp_path / "m.export.json").read_text())
    assert record["exporter"] == "dynamo" and record["attempts"][0] == "torchscript: crashed (signal 11)"
    assert record["parity_max_abs"] <= 1e-4
    assert "exporter dynamo" in out and "torchscript: crashed (signal 11)" in out
    assert "exported by the dynamo exporter" in (tmp_path / "m.model-card.md").read_text()
