"""Test vectors: sample inputs with the ONNX model's outputs, so an app integration can be checked exactly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from eegdeploy.errors import InputError
from eegdeploy.io import write_bytes


def write_test_vectors(onnx_path: str | Path, inputs: np.ndarray, out_npz: str | Path) -> Path:
    """Run ``inputs`` through the ONNX file in onnxruntime and save arrays ``inputs`` and ``outputs``."""
    from eegdeploy.export.onnx_export import ort_run

    x = np.ascontiguousarray(inputs, dtype=np.float32)
    y = ort_run(str(onnx_path), x)
    buf = io.BytesIO()
    np.savez(buf, inputs=x, outputs=y)
    return write_bytes(out_npz, buf.getvalue())


def check_test_vectors(onnx_path: str | Path, npz: str | Path) -> float:
    """max |onnx(inputs) - outputs| for a test-vectors file."""
    from eegdeploy.export.onnx_export import ort_run

    try:
        with np.load(npz, allow_pickle=False) as f:
            x, y = f["inputs"], f["outputs"]
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"cannot read test vectors {str(npz)!r} ({type(err).__name__})",
                         fix="give the test-vectors.npz written beside the model") from None
    return float(np.abs(ort_run(str(onnx_path), x) - y).max())
