import numpy as np
import pytest
import torch

from eegdeploy.config import load_profile
from eegdeploy.errors import InputError
from eegdeploy.export import ExportConfig, compare_accuracy, export_onnx, onnx_accuracy, quantize_int8, to_fp16
from eegdeploy.models import bundle_from_profile


@pytest.mark.slow
def test_int8_ccnn_is_at_most_35_percent_and_reports_accuracy_honestly(tmp_path):
    from eegdeploy.data import load_data

    prof = load_profile("ccnn-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    splits = load_data(None, prof, seed=0)
    export_onnx(model, tmp_path / "m.onnx", ExportConfig(exporter="torchscript"), example=torch.zeros(1, 4, 9, 9))
    q = quantize_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", calibration=splits.train.X[:32], test=splits.test)
    assert q.int8_bytes == (tmp_path / "m.int8.onnx").stat().st_size and q.int8_bytes <= 0.35 * q.fp32_bytes
    # the reported figures equal a recomputation from the files
    fp32 = onnx_accuracy(tmp_path / "m.onnx", splits.test.X, splits.test.y)
    int8 = onnx_accuracy(tmp_path / "m.int8.onnx", splits.test.X, splits.test.y)
    assert (q.fp32_accuracy, q.int8_accuracy) == (fp32, int8)
    assert q.accuracy_drop == pytest.approx(fp32 - int8) and q.to_dict()["accuracy_drop"] == q.accuracy_drop
    assert q.fp32_p50_ms > 0 and q.int8_p50_ms > 0
    assert str(round(100 * q.int8_bytes / q.fp32_bytes)) + "%" in q.summary()


def test_int8_warns_when_accuracy_drops_past_the_threshold(tiny_onnx, tmp_path):
    from eegdeploy.data.types import Split

    path, _, x = tiny_onnx
    calib = np.random.default_rng(1).standard_normal((16, 1, 8, 8)).astype(np.float32)
    # labels chosen so fp32 is right on every sample: any int8 flip is a drop; threshold 0 makes it a warning
    from eegdeploy.export.parity import ort_run

    y = ort_run(path, calib).argmax(1)
    q = quantize_int8(path, tmp_path / "q.onnx", calibration=calib * 3, test=Split(calib, y, None),
                      max_accuracy_drop=0.0)
    assert q.fp32_accuracy == 1.0
    assert any("accuracy points" in w for w in q.warnings) == (q.int8_accuracy < 1.0)


def test_compare_accuracy_is_a_plain_recomputation(tiny_onnx, tmp_path):
    path, _, x = tiny_onnx
    same = compare_accuracy(path, path, x, np.zeros(len(x), dtype=np.int64))
    assert same.accuracy_drop == 0.0 and same.agreement == 1.0 and same.max_abs_logit_diff == 0.0 and same.n == 6
    to_fp16(path, tmp_path / "h.onnx")
    from eegdeploy.export.parity import ort_run

    c = compare_accuracy(path, tmp_path / "h.onnx", x)
    assert c.accuracy_drop is None and c.reference_accuracy is None
    assert c.max_abs_logit_diff == pytest.approx(float(np.abs(ort_run(path, x) - ort_run(tmp_path / "h.onnx", x)).max()))
    assert 0 < c.max_abs_logit_diff < 1e-2  # fp16 rounding: not zero, not large
    with pytest.raises(InputError, match="no samples"):
        compare_accuracy(path, path, x[:0])


def test_calibration_without_samples_is_an_input_error(tiny_onnx, tmp_path):
    path, _, _ = tiny_onnx
    with pytest.raises(InputError, match="calibration needs samples"):
        quantize_int8(path, tmp_path / "q.onnx", calibration=np.zeros((0, 1, 8, 8), np.float32))
    assert not (tmp_path / "q.onnx").exists()
