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
# conformer-deap is the heaviest (about 3x the next): the slow tier; vit-deap keeps a transformer in the fast tier
PROFILE_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n == "conformer-deap" else n for n in PROFILES]


@pytest.mark.parametrize("name", PROFILE_PARAMS)
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_parity", lambda *a, **k: ({"random batch 1": 0.5}, []))
    (tmp_path / "keep.txt").write_text("x")
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    with pytest.raises(ParityError, match="does not match PyTorch"):
        export_onnx(model, tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 3), metadata={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2)).eval()


def test_metadata_carries_version_and_input_spec_and_user_keys_win(tmp_path):
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8),
                      metadata={"eegdeploy.class_names": "rest,task", "eegdeploy.output_name": "scores"})
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["eegdeploy.input_shape"] == "batch,1,8,8" and meta["eegdeploy.input_dtype"] == "float32"
    assert meta["eegdeploy.class_names"] == "rest,task" and meta["eegdeploy.output_name"] == "scores"
    from eegdeploy._version import __version__

    assert meta["eegdeploy.version"] == __version__
    assert res.input_shape == ["batch", 1, 8, 8] and res.output_shape == ["batch", 2]
    assert res.to_dict()["parity"] == res.parity and res.to_dict()["exporter"] == "torchscript"


def test_fixed_batch_export_checks_that_batch(tmp_path):
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(dynamic_batch=False, batch=3),
                      example=torch.zeros(1, 1, 8, 8), check_inputs=np.ones((5, 1, 8, 8), np.float32))
    assert res.input_shape == [3, 1, 8, 8] and set(res.parity) == {"random batch 3", "real samples"}
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["eegdeploy.input_shape"] == "3,1,8,8"


def test_real_samples_of_the_wrong_shape_are_refused_before_exporting(tmp_path):
    from eegdeploy.errors import InputError

    with pytest.raises(InputError, match=r"check inputs have shape \[4, 1, 9, 9\].*\[N, 1, 8, 8\]"):
        export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8),
                    check_inputs=np.zeros((4, 1, 9, 9), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, field", [({"opset": 99}, "opset"), ({"exporter": "magic"}, "exporter"),
                                           ({"tolerance": 0}, "tolerance"), ({"tolerance": float("nan")}, "tolerance"),
                                           ({"max_accuracy_drop": 2.0}, "max-accuracy-drop"),
                                           ({"dynamic_batch": False, "batch": 0}, "batch")],
                         ids=["opset", "exporter", "tolerance-0", "tolerance-nan", "accuracy-drop", "batch"])
def test_bad_config_names_the_field_and_the_allowed_values(kwargs, field):
    from eegdeploy.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        ExportConfig(**kwargs)
    assert field in str(err.value)
    if field == "exporter":
        assert "auto" in err.value.one_line() and "torchscript" in err.value.one_line()


def test_a_simplified_graph_onnxruntime_rejects_falls_back_to_the_unsimplified_one(tmp_path, monkeypatch):
    real_attempt = onnx_export._attempt

    def broken_sim(model, example, exporter, cfg, workdir):
        raw, sim, outcome = real_attempt(model, example, exporter, cfg, workdir)
        m = onnx.load(sim)
        m.graph.node[0].op_type = "NoSuchOp"  # what onnxsim did to LMDA's AvgPool3d, in spirit
        onnx.save(m, sim)
        return raw, sim, outcome

    monkeypatch.setattr(onnx_export, "_attempt", broken_sim)
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8))
    assert res.simplified is False and res.exporter == "torchscript"
    assert any("simplified graph rejected" in w for w in res.warnings)
    assert any("unsimplified graph is used" in w for w in res.warnings)
    assert res.parity_max_abs <= 1e-4


def test_without_a_gpu_the_cuda_parity_check_is_skipped_with_a_note(tmp_path):
    from eegdeploy.export.parity import cuda_available

    if cuda_available():
        pytest.skip("a GPU is present: test_cuda_parity covers it")
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8))
    assert not any(k.startswith("ort-cuda") for k in res.parity)
    assert len(res.notes) == 1 and res.notes[0].startswith("GPU parity skipped")


def test_cuda_provider_listed_but_not_starting_is_noted(tmp_path, monkeypatch):
    from eegdeploy.export import parity

    if parity.cuda_available():
        pytest.skip("a GPU is present")
    monkeypatch.setattr(parity, "cuda_available", lambda: True)  # ORT falls back to CPU when CUDA cannot start
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8))
    assert res.notes == ["GPU parity skipped: CUDAExecutionProvider is installed but did not start "
                         "(CUDA/cuDNN libraries)"]


class _PretendCuda:
    """An onnxruntime session on CPU that reports CUDA, optionally adding an offset to its outputs."""

    def __init__(self, sess, offset):
        self.sess, self.offset = sess, offset

    def get_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def get_inputs(self):
        return self.sess.get_inputs()

    def run(self, names, feed):
        return [o + self.offset for o in self.sess.run(names, feed)]


@pytest.mark.parametrize("offset", [0.0, 0.01], ids=["agrees", "differs"])
def test_cuda_parity_is_checked_against_its_own_tolerance(tmp_path, monkeypatch, offset):
    from eegdeploy.export import parity

    real = parity.ort_session
    monkeypatch.setattr(parity, "cuda_available", lambda: True)
    monkeypatch.setattr(parity, "ort_session", lambda m, providers=("CPUExecutionProvider",), threads=1:
                        _PretendCuda(real(m), offset) if "CUDAExecutionProvider" in providers else real(m))
    cfg = ExportConfig(exporter="torchscript", gpu_tolerance=1e-3)
    if offset == 0.0:
        res = export_onnx(_tiny(), tmp_path / "m.onnx", cfg, example=torch.zeros(1, 1, 8, 8))
        assert {"ort-cuda random batch 1", "ort-cuda random batch 16"} <= set(res.parity) and res.notes == []
        assert res.parity_max_abs == max(v for k, v in res.parity.items() if not k.startswith("ort-cuda"))
    else:
        with pytest.raises(ParityError, match="on CUDA"):
            export_onnx(_tiny(), tmp_path / "m.onnx", cfg, example=torch.zeros(1, 1, 8, 8))
        assert not (tmp_path / "m.onnx").exists()


@pytest.mark.gpu
def test_cuda_parity_on_a_real_gpu(tmp_path):
    from eegdeploy.export.parity import cuda_available

    if not cuda_available():
        pytest.skip("no CUDA device with onnxruntime's CUDAExecutionProvider here")
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(), example=torch.zeros(1, 1, 8, 8))
    assert res.parity["ort-cuda random batch 16"] <= 1e-3


@pytest.mark.slow
def test_explicit_dynamo_exporter(tmp_path):
    res = export_onnx(_tiny(), tmp_path / "m.onnx", ExportConfig(exporter="dynamo"), example=torch.zeros(1, 1, 8, 8),
                      check_inputs=np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32))
    assert res.exporter == "dynamo" and res.attempts[0].startswith("dynamo: ok") and len(res.attempts) == 1
    assert res.parity_max_abs <= 1e-4 and res.input_shape[1:] == [1, 8, 8]


class _Residual(nn.Module):
    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.f = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class _ScaledByZero(nn.Module):
    """``y * 0`` of a value other than the residual's own input: not a dropped branch, so kept."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1) * self.zero


def test_dropped_residual_branches_leave_no_operator_in_the_export(tmp_path):
    import onnxruntime as ort

    from eegdeploy.prune import ZeroBranch

    torch.manual_seed(0)
    model = nn.Sequential(_Residual(ZeroBranch()), _Residual(nn.Linear(8, 8)), _Residual(_ScaledByZero()),
                          nn.Linear(8, 2), _Residual(ZeroBranch())).eval()  # the last add is the graph output
    x = torch.randn(3, 5, 8)
    res = export_onnx(model, tmp_path / "m.onnx", ExportConfig(), example=x)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    # one Add for the linear residual, one Add and one Mul for the flipped branch, an Identity for the output
    assert ops.count("Add") == 2 and ops.count("Mul") == 1 and ops.count("Identity") == 1
    assert res.parity_max_abs <= 1e-5
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)
