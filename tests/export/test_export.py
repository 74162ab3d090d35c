import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import load_profile
from eegdeploy.errors import ExportError, ParityError
from eegdeploy.export import ExportConfig, check_test_vectors, export_onnx, write_test_vectors
from eegdeploy.export import onnx_export
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import LFPConfig, prune, slim

from eegdeploy.config import list_profiles

PROFILES = list_profiles()  # every shipped profile, the coverage ones (stnet, fbcnet, deepsleepnet) included


@pytest.mark.parametrize("name", PROFILES)
def test_slim_models_export_with_parity_metadata_and_vectors(name, tmp_path):
    prof = load_profile(name)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.zeros(1, *prof.input.shape)
    small = slim(model, prune(model, LFPConfig(0.5), example=x), x)
    real = np.random.default_rng(0).standard_normal((5, *prof.input.shape)).astype(np.float32)
    res = export_onnx(small, tmp_path / "slim.onnx", ExportConfig(), example=x,
                      metadata={"eegdeploy.class_names": "a,b"}, check_inputs=real)
    assert res.parity_max_abs <= 1e-4 and set(res.parity) == {"random batch 1", "random batch 16", "real samples (5)"}
    m = onnx.load(str(tmp_path / "slim.onnx"))
    onnx.checker.check_model(m)
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["eegdeploy.class_names"] == "a,b" and "eegdeploy.version" in meta
    assert not any(k.startswith("onnxsim.") for k in meta)
    write_test_vectors(tmp_path / "slim.onnx", real, tmp_path / "tv.npz")
    assert check_test_vectors(tmp_path / "slim.onnx", tmp_path / "tv.npz") <= 1e-5
    with np.load(tmp_path / "tv.npz") as f:
        assert f["inputs"].shape == real.shape and f["outputs"].shape == (5, prof.num_classes)


def test_fallback_exporter_is_used_and_named(tmp_path, monkeypatch):
    real_attempt = onnx_export._attempt

    def failing_first(model, example, exporter, cfg, workdir):
        if exporter == "torchscript":
            return None, None, "torchscript: crashed (signal 11)"
        return real_attempt(model, example, exporter, cfg, workdir)

    monkeypatch.setattr(onnx_export, "_attempt", failing_first)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2)).eval()
    res = export_onnx(model, tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8), metadata={})
    assert res.exporter == "dynamo"
    assert res.attempts[0] == "torchscript: crashed (signal 11)" and res.attempts[1].startswith("dynamo: ok")
    assert res.parity_max_abs <= 1e-4


def test_a_crashing_exporter_does_not_take_the_process_down(tmp_path, monkeypatch):
    class Crash(nn.Module):
        def forward(self, x):
            import os
            if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
                os._exit(139)  # stands in for the dynamo exporter's segfault
            return x * 2

    with pytest.raises(ExportError, match="torchscript: failed|crashed"):
        export_onnx(Crash(), tmp_path / "m.onnx", ExportConfig(exporter="torchscript"),
                    example=torch.zeros(1, 3), metadata={})
    assert not (tmp_path / "m.onnx").exists()


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_parity", lambda *a, **k: ({"random batch 1": 0.5}, []))
    (tmp_path / "keep.txt").write_text("x")
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    with pytest.raises(ParityError, match="does not match PyTorch"):
        export_onnx(model, tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 3), metadata={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_int8_is_small_and_reports_accuracy_honestly(tmp_path):
    from eegdeploy.data import load_data
    from eegdeploy.export.quant import onnx_accuracy, quantize_int8

    prof = load_profile("ccnn-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    splits = load_data(None, prof, seed=0)
    export_onnx(model, tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 4, 9, 9), metadata={})
    q = quantize_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", calibration=splits.train.X[:32], test=splits.test)
    assert q.int8_bytes <= 0.35 * q.fp32_bytes
    assert q.int8_accuracy == onnx_accuracy(tmp_path / "m.int8.onnx", splits.test.X, splits.test.y)
    assert q.accuracy_drop == pytest.approx(q.fp32_accuracy - q.int8_accuracy)
