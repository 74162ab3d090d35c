"""int8 (static QDQ, calibrated on training samples) and fp16 copies of an exported model, with the accuracy,
size and latency they cost or save measured against the fp32 file in onnxruntime.

Torch-free: only onnx, onnxruntime and numpy are needed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eegdeploy.errors import InputError, invalid_value
from eegdeploy.io import TMP_PREFIX, atomic_path

__all__ = ["AccuracyComparison", "QuantResult", "compare_accuracy", "onnx_accuracy", "onnx_logits", "quantize_int8",
           "to_fp16"]


@dataclass
class AccuracyComparison:
    """A reduced-precision ONNX file against its fp32 reference, on the same samples."""

    reference_accuracy: float | None  # None when no labels were given
    candidate_accuracy: float | None
    n: int
    max_abs_logit_diff: float
    agreement: float  # share of samples where both files pick the same class

    @property
    def accuracy_drop(self) -> float | None:
        """reference - candidate accuracy (a fraction; positive means the candidate is worse)."""
        if self.reference_accuracy is None or self.candidate_accuracy is None:
            return None
        return self.reference_accuracy - self.candidate_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"reference_accuracy": self.reference_accuracy, "candidate_accuracy": self.candidate_accuracy,
                "accuracy_drop": self.accuracy_drop, "n": self.n, "max_abs_logit_diff": self.max_abs_logit_diff,
                "agreement": self.agreement}


def onnx_logits(path: str | Path, X: np.ndarray, batch: int = 256) -> np.ndarray:
    """The ONNX (or ORT-format) file's outputs on ``X`` in onnxruntime (CPU), in chunks of ``batch``."""
    from eegdeploy.export.parity import ort_session

    sess = ort_session(path)
    name = sess.get_inputs()[0].name
    X = np.ascontiguousarray(X, dtype=np.float32)
    return np.concatenate([sess.run(None, {name: X[i:i + batch]})[0] for i in range(0, len(X), batch)])


def onnx_accuracy(path: str | Path, X: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy of the ONNX file on ``X, y`` in onnxruntime (CPU)."""
    return float((onnx_logits(path, X, batch).argmax(axis=1) == np.asarray(y)).mean())


def compare_accuracy(reference: str | Path, candidate: str | Path, X: np.ndarray, y: np.ndarray | None = None
                     ) -> AccuracyComparison:
    """Run both ONNX files on ``X`` and compare logits, predictions and (with labels ``y``) accuracy."""
    if len(X) == 0:
        raise InputError("no samples to compare the models on", fix="give a data set with a non-empty test split")
    ref, cand = onnx_logits(reference, X), onnx_logits(candidate, X)
    pr, pc = ref.argmax(axis=1), cand.argmax(axis=1)
    ra = ca = None
    if y is not None:
        y = np.asarray(y)
        ra, ca = float((pr == y).mean()), float((pc == y).mean())
    return AccuracyComparison(ra, ca, len(X), float(np.abs(ref.astype(np.float64) - cand).max()),
                              float((pr == pc).mean()))


@dataclass
class QuantResult:
    path: Path
    fp32_bytes: int
    int8_bytes: int
    fp32_accuracy: float | None
    int8_accuracy: float | None
    fp32_p50_ms: float
    int8_p50_ms: float
    warnings: list[str] = field(default_factory=list)
    comparison: AccuracyComparison | None = None
    latency_batch: int = 16

    @property
    def accuracy_drop(self) -> float | None:
        if self.fp32_accuracy is None or self.int8_accuracy is None:
            return None
        return self.fp32_accuracy - self.int8_accuracy

    def summary(self) -> str:
        acc = ("" if self.accuracy_drop is None else
               f", accuracy {100 * self.fp32_accuracy:.1f}% -> {100 * self.int8_accuracy:.1f}% "
               f"({0.0 - 100 * self.accuracy_drop:+.1f} pts)")
        return (f"int8 {self.path.name}: {self.int8_bytes / 1024:.1f} KiB vs fp32 {self.fp32_bytes / 1024:.1f} KiB "
                f"({self.int8_bytes / self.fp32_bytes:.0%}){acc}, ort-cpu batch-{self.latency_batch} p50 "
                f"{self.fp32_p50_ms:.3f} -> {self.int8_p50_ms:.3f} ms")

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "fp32_bytes": self.fp32_bytes, "int8_bytes": self.int8_bytes,
                "size_ratio": self.int8_bytes / self.fp32_bytes if self.fp32_bytes else None,
                "fp32_accuracy": self.fp32_accuracy, "int8_accuracy": self.int8_accuracy,
                "accuracy_drop": self.accuracy_drop, "fp32_p50_ms": self.fp32_p50_ms,
                "int8_p50_ms": self.int8_p50_ms, "latency_batch": self.latency_batch,
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "warnings": list(self.warnings)}


def _p50_interleaved(paths: tuple[Path, Path], shape: tuple[int, ...], rounds: int = 5, iters: int = 6,
                     threads: int = 1) -> tuple[float, float]:
    """Median latency of two files, timed in alternating rounds so drift hits both alike."""
    from eegdeploy.bench.onnx_runner import ort_runner, ort_session, time_calls

    runners = [ort_runner(ort_session(p, threads=threads), shape[0]) for p in paths]
    times: list[list[float]] = [[], []]
    for r in runners:
        time_calls(r, iters=0, warmup=3)
    for _ in range(rounds):
        for i, r in enumerate(runners):
            times[i] += time_calls(r, iters=iters, warmup=0)
    return float(np.median(times[0])), float(np.median(times[1]))


def quantize_int8(fp32: str | Path, out: str | Path, *, calibration: np.ndarray, test: Any = None,
                  max_accuracy_drop: float = 0.02, latency_batch: int = 16, threads: int = 1) -> QuantResult:
    """Static int8 quantization (QDQ, per-channel int8 weights, int8 activations) calibrated on ``calibration``.

    ``test`` (anything with ``X`` and ``y``, e.g. a ``Split``) gives fp32 and int8 accuracy measured in
    onnxruntime; a warning is added when int8 loses more than ``max_accuracy_drop`` (a fraction) or runs slower.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from eegdeploy.export.parity import ort_session

    fp32, out = Path(fp32), Path(out)
    calib = np.ascontiguousarray(calibration, dtype=np.float32)
    if calib.ndim < 2 or len(calib) == 0:
        raise InputError(f"int8 calibration needs samples, got an array of shape {list(calib.shape)}",
                         fix="give training data with --data (at least a few samples)")
    if not 0 <= max_accuracy_drop <= 1:
        raise invalid_value("max-accuracy-drop", max_accuracy_drop, "a fraction between 0 and 1, e.g. 0.02")
    name = ort_session(fp32).get_inputs()[0].name
    warnings: list[str] = []

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(calib[i:i + 1] for i in range(len(calib)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {name: x}

    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as work:
        pre = Path(work) / "pre.onnx"
        try:
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        except Exception as err:  # pre-processing only helps; quantization works without it
            warnings.append(f"onnxruntime's quantization pre-processing failed ({type(err).__name__}); "
                            "quantized the exported graph directly")
            pre = fp32
        with atomic_path(out) as tmp:
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    fp32_ms, int8_ms = _p50_interleaved((fp32, out), (latency_batch, *calib.shape[1:]), threads=threads)
    res = QuantResult(out, fp32.stat().st_size, out.stat().st_size, None, None, fp32_ms, int8_ms, warnings,
                      latency_batch=latency_batch)
    if res.int8_p50_ms > res.fp32_p50_ms:
        res.warnings.append(f"int8 is slower than fp32 on this CPU ({res.int8_p50_ms:.2f} vs {res.fp32_p50_ms:.2f} ms "
                            f"at batch {latency_batch}): quantize/dequantize overhead outweighs small layers; "
                            "prefer fp32 here")
    if test is not None and len(test.X):
        res.comparison = compare_accuracy(fp32, out, test.X, test.y)
        res.fp32_accuracy = res.comparison.reference_accuracy
        res.int8_accuracy = res.comparison.candidate_accuracy
        if res.accuracy_drop is not None and res.accuracy_drop > max_accuracy_drop:
            res.warnings.append(f"int8 loses {100 * res.accuracy_drop:.1f} accuracy points (threshold "
                                f"{100 * max_accuracy_drop:.1f}); prefer the fp32 file or calibrate on more data")
    return res


def to_fp16(fp32: str | Path, out: str | Path) -> Path:
    """fp16 weights and activations with fp32 inputs and outputs kept (for GPU targets)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    with atomic_path(out) as tmp:
        onnx.save(m, str(tmp))
    return Path(out)
