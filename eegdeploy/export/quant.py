"""int8 (static QDQ, calibrated on training samples) and fp16 copies of an exported model, with the accuracy,
size and latency they cost or save measured against the fp32 file."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eegdeploy.io import TMP_PREFIX, atomic_path


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

    @property
    def accuracy_drop(self) -> float | None:
        if self.fp32_accuracy is None or self.int8_accuracy is None:
            return None
        return self.fp32_accuracy - self.int8_accuracy

    def summary(self) -> str:
        acc = ("" if self.accuracy_drop is None else
               f", accuracy {100 * self.fp32_accuracy:.1f}% -> {100 * self.int8_accuracy:.1f}% "
               f"({-100 * self.accuracy_drop:+.1f} pts)")
        return (f"int8 {self.path.name}: {self.int8_bytes / 1024:.1f} KiB vs fp32 {self.fp32_bytes / 1024:.1f} KiB "
                f"({self.int8_bytes / self.fp32_bytes:.0%}){acc}, ort-cpu batch-16 p50 {self.fp32_p50_ms:.3f} -> "
                f"{self.int8_p50_ms:.3f} ms")

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "fp32_bytes": self.fp32_bytes, "int8_bytes": self.int8_bytes,
                "fp32_accuracy": self.fp32_accuracy, "int8_accuracy": self.int8_accuracy,
                "accuracy_drop": self.accuracy_drop, "fp32_p50_ms": self.fp32_p50_ms,
                "int8_p50_ms": self.int8_p50_ms, "warnings": list(self.warnings)}


def onnx_accuracy(path: str | Path, X: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    from eegdeploy.export.onnx_export import ort_run

    preds = [ort_run(str(path), X[i:i + batch]).argmax(axis=1) for i in range(0, len(X), batch)]
    return float((np.concatenate(preds) == y).mean())


def _p50(path: Path, shape: tuple[int, ...]) -> float:
    from eegdeploy.bench.onnx_runner import ort_runner, ort_session, time_calls

    sess = ort_session(path, threads=1)
    return float(np.median(time_calls(ort_runner(sess, shape[0]), iters=20, warmup=3)))


def quantize_int8(fp32: str | Path, out: str | Path, *, calibration: np.ndarray, test: Any = None,
                  max_accuracy_drop: float = 0.02) -> QuantResult:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on ``calibration`` samples."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32, out = Path(fp32), Path(out)
    import onnxruntime as ort

    name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    calib = np.ascontiguousarray(calibration, dtype=np.float32)

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
        except Exception:
            pre = fp32
        with atomic_path(out) as tmp:
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    res = QuantResult(out, fp32.stat().st_size, out.stat().st_size, None, None,
                      _p50(fp32, (16, *calib.shape[1:])), _p50(out, (16, *calib.shape[1:])))
    if res.int8_p50_ms > res.fp32_p50_ms:
        res.warnings.append(f"int8 is slower than fp32 on this CPU ({res.int8_p50_ms:.2f} vs {res.fp32_p50_ms:.2f} ms "
                            "at batch 16): quantize/dequantize overhead outweighs small layers; prefer fp32 here")
    if test is not None and len(test):
        res.fp32_accuracy = onnx_accuracy(fp32, test.X, test.y)
        res.int8_accuracy = onnx_accuracy(out, test.X, test.y)
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
