"""bench on a checkpoint takes --arch/--arch-kwargs/--input-shape; bench JSON rows are labelled from the ONNX
metadata and 'report merge' keeps rows of different files apart (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from eegdeploy.cli import main
from eegdeploy.report.merge import label_from_metadata, merge_reports

ROOT = Path(__file__).resolve().parents[2]


def _bench_json(path: Path, file: str, meta: dict, p50: float) -> Path:
    path.write_text(json.dumps({"kind": "eegdeploy-bench", "version": 1, "file": file, "metadata": meta,
                                "environment": {"cpu": "cpu-x", "threads": 1},
                                "latency_ms": {"ort-cpu": {"64": {"p50": p50, "p90": p50, "p99": p50}}}}))
    return path


def test_label_from_metadata():
    meta = {"eegdeploy.model": "eegnet-bci", "eegdeploy.stage": "slim",
            "eegdeploy.recipe": "method=nsfp ratio=0.5 recover=finetune seed=0"}
    assert label_from_metadata(meta, "slim.onnx") == "eegnet-bci (slim, nsfp 0.5 finetune)"
    assert label_from_metadata({**meta, "eegdeploy.stage": "baseline"}, "x") == "eegnet-bci (baseline)"
    assert label_from_metadata({}, "slim.onnx") == "slim.onnx"


def test_merge_keeps_two_slim_onnx_files_apart(tmp_path):
    a = _bench_json(tmp_path / "a.json", "run-a/slim.onnx", {"eegdeploy.model": "eegnet-bci", "eegdeploy.stage": "slim",
                    "eegdeploy.recipe": "method=lfp ratio=0.5 recover=finetune seed=0"}, 2.0)
    b = _bench_json(tmp_path / "b.json", "run-b/slim.onnx", {"eegdeploy.model": "eegnet-bci", "eegdeploy.stage": "slim",
                    "eegdeploy.recipe": "method=nsfp ratio=0.5 recover=finetune seed=0"}, 3.0)
    rows = merge_reports([a, b])
    assert [r[0] for r in rows] == ["eegnet-bci (slim, lfp 0.5 finetune)", "eegnet-bci (slim, nsfp 0.5 finetune)"]
    # files without metadata and the same name: the file each row came from is appended
    c = _bench_json(tmp_path / "c.json", "x/slim.onnx", {}, 1.0)
    d = _bench_json(tmp_path / "d.json", "y/slim.onnx", {}, 1.5)
    rows = merge_reports([c, d])
    assert [r[0] for r in rows] == [f"slim.onnx [{c}]", f"slim.onnx [{d}]"]


def test_bench_a_checkpoint_with_arch_and_input_shape(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    from tests.cli.netdefs import SmallCNN

    torch.save(SmallCNN(channels=4).state_dict(), tmp_path / "own.pt")
    out = tmp_path / "bench.json"
    code = main(["bench", str(tmp_path / "own.pt"), "--arch", "tests.cli.netdefs:SmallCNN", "--arch-kwargs",
                 '{"channels": 4}', "--input-shape", "1,4,32", "--iters", "2", "--batch", "1", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    d = json.loads(out.read_text())
    # SmallCNN(4): conv 1->4 (1x7) 28+4, BN 8, conv 4->8 (4x1) 128+8, linear 32->2 64+2 = 242 parameters
    assert d["counts"]["params"] == 242
    assert d["label"].startswith("SmallCNN") or "own" in d["label"]
    assert set(d["latency_ms"]["torch-cpu"]) == {"1"}
