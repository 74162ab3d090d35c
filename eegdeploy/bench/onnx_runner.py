"""onnxruntime latency, torch-free: this module must import with only onnxruntime and numpy installed."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from eegdeploy.errors import InputError

RUNTIMES = ("ort-cpu", "torch-cpu", "ort-cuda", "torch-cuda")


@dataclass(frozen=True)
class BenchConfig:
    batches: tuple[int, ...] = (1, 64)
    threads: int = 1
    iters: int = 30
    warmup: int = 5
    min_time_s: float = 0.0  # keep timing until this much time has passed (and at least iters runs)
    device: str = "cpu"  # cpu | cuda
    providers: tuple[str, ...] = ()  # explicit ORT providers; default from device
    input_shape: tuple[int, ...] = ()  # one sample without batch; fills dynamic dims (default: the file's metadata)


@dataclass
class LatencyResult:
    latency_ms: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, runtime: str, batch: int, stats: dict[str, float]) -> None:
        self.latency_ms.setdefault(runtime, {})[str(batch)] = stats


def ort_session(path: str | Path, *, threads: int, device: str = "cpu", providers: tuple[str, ...] = ()) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    wanted = list(providers) or (["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda"
                                 else ["CPUExecutionProvider"])
    available = ort.get_available_providers()
    missing = [p for p in wanted if p not in available]
    if missing:
        raise InputError(f"onnxruntime provider(s) {missing} are not available here (have {available})",
                         fix="install onnxruntime-gpu for CUDA, or drop --providers")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=wanted)
    except Exception as err:  # onnxruntime raises its own exception types
        raise InputError(f"onnxruntime cannot load {str(path)!r}: {str(err).splitlines()[0][:160]}",
                         fix="give a valid .onnx file (eegdeploy export writes one)") from None


def input_shape(session: Any, batch: int, sample: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The input shape at ``batch``: a dynamic first axis takes ``batch``, a fixed one stays as exported; other
    dynamic axes take ``sample``'s sizes (one sample without batch: ``--input-shape``). The declared sizes are
    checked against the budgets in ``eegdeploy.limits`` before anything is allocated."""
    from eegdeploy.limits import MAX_BATCH_ELEMENTS, MAX_SAMPLE_ELEMENTS, over

    dims = list(session.get_inputs()[0].shape)
    if not dims:
        raise InputError("the ONNX model takes a scalar input", fix="export the model with a batch axis")
    if sample and len(sample) != len(dims) - 1:
        raise InputError(f"--input-shape {','.join(map(str, sample))} has {len(sample)} axes, the ONNX model takes "
                         f"{len(dims) - 1} besides the batch", fix="give one size per axis after the batch")
    rest = []
    for i, d in enumerate(dims[1:], start=1):
        if isinstance(d, int) and d > 0:
            if sample and sample[i - 1] != d:
                raise InputError(f"input dimension {i} of the ONNX model is fixed at {d}, --input-shape says "
                                 f"{sample[i - 1]}", fix="match the exported shape")
            rest.append(d)
        elif sample:
            rest.append(int(sample[i - 1]))
        else:
            raise InputError(f"input dimension {i} of the ONNX model is dynamic ({str(d)[:40]!r})",
                             fix="pass --input-shape with one size per axis after the batch")
    first = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else batch
    per_sample = math.prod(rest)
    if per_sample > MAX_SAMPLE_ELEMENTS:
        raise over("the ONNX input sample size (values)", per_sample, MAX_SAMPLE_ELEMENTS, "ONNX model",
                   "a crafted or mis-exported input shape; check --input-shape")
    if first * per_sample > MAX_BATCH_ELEMENTS:
        raise over(f"the input batch of shape {[first, *rest]} (values)", first * per_sample, MAX_BATCH_ELEMENTS,
                   "ONNX model", "use a smaller --batch")
    return (first, *rest)


def time_calls(fn: Callable[[], Any], *, iters: int, warmup: int, min_time_s: float = 0.0,
               sync: Callable[[], None] | None = None) -> list[float]:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < iters or (time.perf_counter() - start) < min_time_s:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def ort_runner(session: Any, batch: int, seed: int = 0, sample: tuple[int, ...] = ()) -> Callable[[], Any]:
    inp = session.get_inputs()[0]
    shape = input_shape(session, batch, sample)
    if shape[0] != batch:
        raise InputError(f"the ONNX model has a fixed batch of {shape[0]}, asked for {batch}",
                         fix=f"use --batch {shape[0]} or export with a dynamic batch axis")
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    name = inp.name
    return lambda: session.run(None, {name: x})


def benchmark_onnx(path: str | Path, config: BenchConfig) -> LatencyResult:
    """Latency of an ONNX file in onnxruntime at each batch size (no torch needed)."""
    from eegdeploy.bench.stats import stability_note, summarize

    p = Path(path)
    if not p.is_file():
        raise InputError(f"ONNX file {str(p)!r} does not exist", fix="check the path")
    result = LatencyResult()
    runtime = f"ort-{config.device}"
    if config.device == "cuda" and "CUDAExecutionProvider" not in _available():
        result.notes.append("ort-cuda skipped: onnxruntime has no CUDAExecutionProvider here (no GPU build or no GPU)")
        return result
    sess = ort_session(p, threads=config.threads, device=config.device, providers=config.providers)
    sample = tuple(config.input_shape) or metadata_sample(sess)
    dims = sess.get_inputs()[0].shape
    if sample and any(not (isinstance(d, int) and d > 0) for d in dims[1:]):
        result.notes.append(f"dynamic input axes filled from the {'--input-shape' if config.input_shape else 'file metadata'}"
                            f": sample shape {list(sample)} (override with --input-shape)")
    for b in config.batches:
        times = time_calls(ort_runner(sess, b, sample=sample), iters=config.iters, warmup=config.warmup, min_time_s=config.min_time_s)
        s = summarize(times, b)
        result.add(runtime, b, s)
        note = stability_note(f"{runtime} batch {b}", s)
        if note:
            result.notes.append(note)
    return result


def metadata_sample(session: Any) -> tuple[int, ...]:
    """The sample shape recorded by eegdeploy export (``eegdeploy.input_shape``), or () when absent/unusable."""
    text = dict(session.get_modelmeta().custom_metadata_map).get("eegdeploy.input_shape", "")
    parts = [p.strip() for p in str(text).split(",") if p.strip() and p.strip() != "batch"]
    if not parts or len(parts) > 8 or not all(p.isdigit() and len(p) <= 9 and int(p) > 0 for p in parts):
        return ()
    sample = tuple(int(p) for p in parts)
    return sample if len(sample) == len(session.get_inputs()[0].shape) - 1 else ()


def _available() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())
