import numpy as np
import pytest
import torch

from eegdeploy.errors import InputError
from eegdeploy.export import check_test_vectors, read_test_vectors, write_test_vectors


def test_vectors_hold_onnxruntime_outputs_and_reproduce(tiny_onnx, tmp_path):
    path, model, x = tiny_onnx
    write_test_vectors(path, x, tmp_path / "tv.npz")
    inputs, outputs = read_test_vectors(tmp_path / "tv.npz")
    assert inputs.dtype == np.float32 and np.array_equal(inputs, x) and outputs.shape == (6, 3)
    with torch.no_grad():
        assert np.abs(model(torch.as_tensor(x)).numpy() - outputs).max() <= 1e-4
    assert check_test_vectors(path, tmp_path / "tv.npz") <= 1e-5


def test_a_wrong_integration_is_detected(tiny_onnx, tmp_path):
    path, _, x = tiny_onnx
    write_test_vectors(path, x, tmp_path / "tv.npz")
    inputs, outputs = read_test_vectors(tmp_path / "tv.npz")
    np.savez(tmp_path / "bad.npz", inputs=inputs, outputs=outputs + 0.01)  # what a preprocessing slip looks like
    assert check_test_vectors(path, tmp_path / "bad.npz") == pytest.approx(0.01, rel=1e-3)
    np.savez(tmp_path / "shape.npz", inputs=inputs, outputs=outputs[:, :2])
    assert check_test_vectors(path, tmp_path / "shape.npz") == float("inf")


def test_bad_files_and_shapes_are_input_errors(tiny_onnx, tmp_path):
    path, _, x = tiny_onnx
    with pytest.raises(InputError, match="does not exist"):
        write_test_vectors(tmp_path / "nope.onnx", x, tmp_path / "tv.npz")
    with pytest.raises(InputError, match=r"inputs of shape \[2, 1, 9, 9\]"):
        write_test_vectors(path, np.zeros((2, 1, 9, 9), np.float32), tmp_path / "tv.npz")
    with pytest.raises(InputError, match="need a batch"):
        write_test_vectors(path, np.zeros((0, 1, 8, 8), np.float32), tmp_path / "tv.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read test vectors"):
        check_test_vectors(path, tmp_path / "junk.npz")
    np.savez(tmp_path / "nokeys.npz", X=x)
    with pytest.raises(InputError, match="cannot read test vectors"):
        check_test_vectors(path, tmp_path / "nokeys.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.npz", "nokeys.npz"]  # nothing half-written
