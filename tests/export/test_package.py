"""export_package: the ORT-format copy checked against the ONNX file, and the int8 keep-or-drop policy of
``compress --int8`` (the decision is tested on given figures, never on timings)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError
from eegdeploy.export import ExportConfig, PackageConfig, PackageFiles, export_package
from eegdeploy.export import package as package_mod
from eegdeploy.export.quant import QuantResult


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()


def _data(n: int = 12) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    return SimpleNamespace(X=rng.standard_normal((n, 1, 8, 8)).astype(np.float32), y=np.arange(n) % 3)


def _package(tmp_path: Path, config: PackageConfig, model: nn.Module | None = None):
    data = _data()
    return export_package(model or _model(), tmp_path, PackageFiles.beside("m.onnx"), config,
                          example=torch.zeros(1, 1, 8, 8), metadata={}, check_inputs=data.X, vectors=data.X[:4],
                          calibration=data.X, test=data)


def test_ort_format_copy_runs_and_matches_the_onnx_file(tmp_path):
    import onnxruntime as ort

    model = _model()
    pkg = _package(tmp_path, PackageConfig(ort_format=True), model)
    assert pkg.written == ["m.onnx", "m.test-vectors.npz", "m.ort"]
    assert (tmp_path / "m.ort").read_bytes()[4:8] == b"ORTM"  # the flatbuffer's file identifier
    x = _data().X
    got = ort.InferenceSession(str(tmp_path / "m.ort"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() <= 1e-4 and pkg.ort.parity_max_abs <= 1e-4


def _fake_quant(int8_ms: float, fp32_acc: float, int8_acc: float):
    def quantize_int8(fp32, out, *, calibration, test, max_accuracy_drop, latency_batch, threads):
        Path(out).write_bytes(Path(fp32).read_bytes())
        return QuantResult(Path(out), 1000, 300, fp32_acc, int8_acc, 10.0, int8_ms, latency_batch=latency_batch)
    return quantize_int8


@pytest.mark.parametrize("int8_ms, int8_acc, kept, reason", [
    (4.0, 0.795, True, ""),                                   # 2.5x faster, -0.5 points: within 1 point
    (12.0, 0.80, False, "not faster than fp32"),              # slower
    (4.0, 0.78, False, "loses 2.0 accuracy points (tolerance 1.0)"),
], ids=["kept", "slower", "less-accurate"])
def test_int8_if_better_keeps_the_file_only_when_faster_and_within_tolerance(tmp_path, monkeypatch, int8_ms,
                                                                             int8_acc, kept, reason):
    monkeypatch.setattr("eegdeploy.export.quant.quantize_int8", _fake_quant(int8_ms, 0.80, int8_acc))
    cfg = PackageConfig(export=ExportConfig(max_accuracy_drop=0.01), int8=True, int8_policy="if-better",
                        int8_batch=64)
    pkg = _package(tmp_path, cfg)
    assert pkg.int8_kept is kept and (tmp_path / "m.int8.onnx").exists() is kept
    assert ("m.int8.onnx" in pkg.written) is kept
    assert reason in pkg.int8_reason and (pkg.int8_reason == "") is kept
    summary = pkg.int8_summary()
    assert summary["kept"] is kept and summary["path"] == ("m.int8.onnx" if kept else None)


def test_int8_always_writes_the_file_and_a_fixed_batch_is_refused():
    assert package_mod.INT8_POLICIES == ("always", "if-better")
    with pytest.raises(ConfigError, match="dynamic batch"):
        PackageConfig(export=ExportConfig(dynamic_batch=False, batch=4), int8=True)
    with pytest.raises(ConfigError, match="int8 policy"):
        PackageConfig(int8_policy="sometimes")


def _patchy_package(patchy, tmp_path: Path, rewrite):
    torch.manual_seed(0)
    model = patchy(16, 3).eval()
    x = np.random.default_rng(0).standard_normal((6, 8, 6, 6)).astype(np.float32)
    pkg = export_package(model, tmp_path, PackageFiles.beside("m.onnx"), PackageConfig(rewrite=rewrite),
                         example=torch.zeros(1, 8, 6, 6), metadata={"eegdeploy.stage": "slim"}, check_inputs=x,
                         vectors=x[:2])
    return model, x, pkg


def _ops(path: Path) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load(path).graph.node]


@pytest.mark.slow  # two exports and the rewrite stage: about 4 s each
@pytest.mark.parametrize("timings, form", [({"as-is": 10.0, "strided-conv": 4.0}, "strided-conv"),
                                           ({"as-is": 4.0, "strided-conv": 4.0}, "as-is"), (None, "strided-conv")],
                         ids=["faster", "not-faster", "cost-model"])
def test_rewrites_export_the_patch_embedding_as_a_conv_when_faster(patchy, tmp_path, monkeypatch, timings, form):
    """With rewrites on, a ViT patch embedding is exported as a strided Conv when that is measured faster (timings
    are given here, not measured) or under the cost model; the file still computes the model's output."""
    import onnx

    from eegdeploy.export.parity import ort_run
    from eegdeploy.rewrite import RewriteConfig
    from eegdeploy.rewrite import choose

    if timings is not None:
        monkeypatch.setattr(choose, "measure", lambda options, x, **kw: dict(timings))
    model, x, pkg = _patchy_package(patchy, tmp_path, RewriteConfig(measure=timings is not None, rounds=1))
    first = pkg.rewrite.rewrites[0]
    assert (first.kind, first.layers, first.form) == ("patch-conv", ["to_patch_embedding"], form)
    ops = _ops(tmp_path / "m.onnx")
    assert ("Conv" in ops) == (form == "strided-conv")
    assert any(len(p) == 7 for p in [a.ints for n in onnx.load(tmp_path / "m.onnx").graph.node
                                      if n.op_type == "Transpose" for a in n.attribute if a.name == "perm"]) \
        == (form == "as-is")
    assert "Conv" not in [n.op_type for n in onnx.load_from_string(pkg.unrewritten).graph.node]  # as exported
    if timings is not None:
        assert first.gain == (2.5 if form == "strided-conv" else 1.0)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert np.abs(ort_run(tmp_path / "m.onnx", x) - want).max() <= 1e-4
    # the rewritten-vs-exported figure compares the delivered file with the einops export
    exported = ort_run(pkg.unrewritten, x)
    assert pkg.rewrite.parity_max_abs == pytest.approx(np.abs(ort_run(tmp_path / "m.onnx", x).astype(np.float64)
                                                              - exported).max(), abs=1e-9)
    assert (pkg.rewrite.parity_max_abs > 0) == (form == "strided-conv")
    assert {p.key for p in onnx.load(tmp_path / "m.onnx").metadata_props} >= {"eegdeploy.stage"}


def test_no_patch_embedding_no_patch_decision(tmp_path):
    from eegdeploy.rewrite import RewriteConfig

    pkg = _package(tmp_path, PackageConfig(rewrite=RewriteConfig(measure=False)))
    assert all(r.kind != "patch-conv" for r in pkg.rewrite.rewrites)
