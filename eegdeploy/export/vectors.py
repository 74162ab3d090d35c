"""Test vectors: sample inputs with the ONNX model's outputs, so an app integration can be checked exactly.

Torch-free: only onnxruntime and numpy are needed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from eegdeploy.errors import InputError
from eegdeploy.io import write_bytes

__all__ = ["check_test_vectors", "read_test_vectors", "write_test_vectors"]


def _run(onnx_path: str | Path, x: np.ndarray) -> np.ndarray:
    from eegdeploy.export.parity import ort_run

    if not Path(onnx_path).is_file():
        raise InputError(f"ONNX file {str(onnx_path)!r} does not exist", fix="check the path")
    try:
        return ort_run(onnx_path, x)
    except Exception as err:  # onnxruntime's own exception types
        raise InputError(f"onnxruntime cannot run {str(onnx_path)!r} on inputs of shape {list(x.shape)} "
                         f"({str(err).splitlines()[0][:160] if str(err) else type(err).__name__})",
                         fix="give inputs with the model's input shape and the .onnx they were written for") from None


def write_test_vectors(onnx_path: str | Path, inputs: np.ndarray, out_npz: str | Path) -> Path:
    """Run ``inputs`` through the ONNX file in onnxruntime (CPU) and save arrays ``inputs`` and ``outputs``."""
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise InputError(f"test vectors need a batch of samples, got shape {list(x.shape)}",
                         fix="give an array shaped [N, *input_shape] with N >= 1")
    y = _run(onnx_path, x)
    buf = io.BytesIO()
    np.savez(buf, inputs=x, outputs=y)
    return write_bytes(out_npz, buf.getvalue())


def read_test_vectors(npz: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, outputs) of a test-vectors file."""
    try:
        from eegdeploy.limits import check_npz

        check_npz(npz, f"test vectors {str(npz)!r}")
        with np.load(npz, allow_pickle=False) as f:
            return f["inputs"], f["outputs"]
    except (OSError, KeyError, ValueError, EOFError) as err:
        raise InputError(f"cannot read test vectors {str(npz)!r} ({type(err).__name__})",
                         fix="give the test-vectors.npz written beside the model") from None


def check_test_vectors(onnx_path: str | Path, npz: str | Path) -> float:
    """max |onnx(inputs) - outputs| for a test-vectors file (``inf`` if the output shapes differ)."""
    from eegdeploy.export.parity import max_abs_diff

    x, y = read_test_vectors(npz)
    return max_abs_diff(_run(onnx_path, x), y)
