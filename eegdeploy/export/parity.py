"""onnxruntime sessions and the PyTorch-vs-onnxruntime parity check.

Importing this module needs only numpy; onnxruntime and torch load inside the functions that use them, so
``write_test_vectors``/``check_test_vectors`` and ``inspect_onnx`` work where only onnxruntime is installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import torch.nn as nn

__all__ = ["CPU", "CUDA", "cuda_available", "max_abs_diff", "ort_run", "ort_session", "parity_checks"]

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
OnnxSource = Union[str, Path, bytes]


def ort_session(model: OnnxSource, *, providers: tuple[str, ...] = (CPU,), threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on ``providers``, ``threads`` intra-op threads, quiet logging."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    src = model if isinstance(model, bytes) else str(model)
    with warnings.catch_warnings():  # a listed but unusable provider falls back to CPU; callers check providers
        warnings.simplefilter("ignore", UserWarning)
        return ort.InferenceSession(src, sess_options=opts, providers=list(providers))


def ort_run(model: OnnxSource, x: np.ndarray, *, providers: tuple[str, ...] = (CPU,)) -> np.ndarray:
    """The first output of ``model`` for the float32 input ``x``, computed in onnxruntime."""
    sess = ort_session(model, providers=providers)
    return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def cuda_available() -> bool:
    """True when both onnxruntime's CUDAExecutionProvider and a torch CUDA device are present."""
    try:
        import onnxruntime as ort

        if CUDA not in ort.get_available_providers():
            return False
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install counts as "no GPU": the CPU checks still run
        return False


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|; ``inf`` when the shapes differ or either side holds NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    d = float(np.abs(a - b).max())
    return float("inf") if np.isnan(d) else d


def _inputs(example: "torch.Tensor", check_inputs: np.ndarray | None, dynamic_batch: bool
            ) -> dict[str, np.ndarray]:
    """Named parity inputs: random at batch 1 and 16 (or the fixed batch), and real samples when given."""
    import torch

    gen = torch.Generator().manual_seed(0)
    shape = tuple(example.shape[1:])
    checks: dict[str, np.ndarray] = {}
    real = None if check_inputs is None or len(check_inputs) == 0 else np.asarray(check_inputs, np.float32)
    if dynamic_batch:
        checks["random batch 1"] = torch.randn((1, *shape), generator=gen).numpy()
        checks["random batch 16"] = torch.randn((16, *shape), generator=gen).numpy()
        if real is not None:
            checks[f"real samples ({len(real)})"] = real
    else:
        b = int(example.shape[0])
        checks[f"random batch {b}"] = torch.randn((b, *shape), generator=gen).numpy()
        if real is not None and len(real) >= b:
            checks["real samples"] = real[:b]
    return checks


def parity_checks(model: "nn.Module", onnx_model: OnnxSource, example: "torch.Tensor",
                  check_inputs: np.ndarray | None = None, *, dynamic_batch: bool = True, gpu: bool = True
                  ) -> tuple[dict[str, float], list[str]]:
    """max |torch - onnxruntime| per check, and notes.

    The reference is the model in PyTorch on CPU. Checks run on onnxruntime's CPU provider; with ``gpu`` and a
    CUDA device they run again on CUDAExecutionProvider (keys prefixed ``ort-cuda``), otherwise a note says why
    that was skipped.
    """
    import torch

    notes: list[str] = []
    checks = _inputs(example, check_inputs, dynamic_batch)
    with torch.no_grad():
        refs = {name: model(torch.as_tensor(x)).detach().cpu().numpy() for name, x in checks.items()}
    out = {name: max_abs_diff(ort_run(onnx_model, x), refs[name]) for name, x in checks.items()}
    if not gpu:
        return out, notes
    if not cuda_available():
        notes.append("GPU parity skipped: onnxruntime has no CUDAExecutionProvider or torch sees no CUDA device")
        return out, notes
    sess = ort_session(onnx_model, providers=(CUDA, CPU))
    if CUDA not in sess.get_providers():
        notes.append("GPU parity skipped: CUDAExecutionProvider is installed but did not start (CUDA/cuDNN libraries)")
        return out, notes
    name_in = sess.get_inputs()[0].name
    for name, x in checks.items():
        out[f"ort-cuda {name}"] = max_abs_diff(sess.run(None, {name_in: x})[0], refs[name])
    return out, notes


def split_gpu(parity: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(CPU checks, GPU checks) of a parity dict."""
    cpu = {k: v for k, v in parity.items() if not k.startswith("ort-cuda")}
    return cpu, {k: v for k, v in parity.items() if k.startswith("ort-cuda")}
