"""PyTorch eager latency on CPU or CUDA (with synchronisation), and interleaved baseline-vs-slim comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from eegdeploy.bench.onnx_runner import BenchConfig, LatencyResult, ort_runner, ort_session, time_calls
from eegdeploy.bench.stats import stability_note, summarize


def torch_runner(model: nn.Module, example: torch.Tensor, batch: int, device: str):
    x = torch.randn((batch, *example.shape[1:]), generator=torch.Generator().manual_seed(0)).to(device)
    m = model.to(device).eval()

    def run() -> Any:
        with torch.inference_mode():
            return m(x)

    return run


def _cuda_note() -> str | None:
    if not torch.cuda.is_available():
        return "torch-cuda skipped: no CUDA GPU visible to torch"
    return None


def benchmark_torch(model: nn.Module, example: torch.Tensor, config: BenchConfig) -> LatencyResult:
    result = LatencyResult()
    device = config.device
    if device == "cuda" and (note := _cuda_note()):
        result.notes.append(note)
        return result
    runtime = f"torch-{device}"
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    sync = torch.cuda.synchronize if device == "cuda" else None
    try:
        for b in config.batches:
            times = time_calls(torch_runner(model, example, b, device), iters=config.iters, warmup=config.warmup,
                               min_time_s=config.min_time_s, sync=sync)
            s = summarize(times, b)
            result.add(runtime, b, s)
            if note := stability_note(f"{runtime} batch {b}", s):
                result.notes.append(note)
    finally:
        torch.set_num_threads(previous)
        if device == "cuda":
            model.to("cpu")
    return result


def compare_latency(*, baseline: tuple[nn.Module | None, str | Path | None],
                    slim: tuple[nn.Module | None, str | Path | None], example: torch.Tensor,
                    batches: Sequence[int] = (1, 64), threads: int = 1, iters: int = 30, warmup: int = 5,
                    runtimes: Sequence[str] = ("ort-cpu", "torch-cpu")) -> tuple[LatencyResult, LatencyResult]:
    """Baseline and slim latency measured side by side: for every runtime and batch, the two models alternate
    run by run (A, B, A, B, ...) on the same threads, so machine drift hits both alike. GPU runtimes are skipped
    with a note when there is no GPU."""
    out = (LatencyResult(), LatencyResult())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for runtime in runtimes:
            kind, device = runtime.split("-", 1)
            if device == "cuda":
                if kind == "torch" and (note := _cuda_note()):
                    out[0].notes.append(note)
                    continue
                if kind == "ort":
                    import onnxruntime as ort

                    if "CUDAExecutionProvider" not in ort.get_available_providers():
                        out[0].notes.append("ort-cuda skipped: onnxruntime has no CUDAExecutionProvider here")
                        continue
            sessions = []
            if kind == "ort":
                sessions = [ort_session(p, threads=threads, device=device) for _, p in (baseline, slim)]
            sync = torch.cuda.synchronize if device == "cuda" else None
            for b in batches:
                if kind == "ort":
                    fns = [ort_runner(s, b) for s in sessions]
                else:
                    fns = [torch_runner(m, example, b, device) for m, _ in (baseline, slim)]
                for fn in fns:
                    time_calls(fn, iters=0, warmup=warmup, sync=sync)
                times: tuple[list[float], list[float]] = ([], [])
                for _ in range(iters):
                    for i, fn in enumerate(fns):
                        times[i].extend(time_calls(fn, iters=1, warmup=0, sync=sync))
                for i, res in enumerate(out):
                    s = summarize(times[i], b)
                    res.add(runtime, b, s)
                    if note := stability_note(f"{('baseline', 'slim')[i]} {runtime} batch {b}", s):
                        res.notes.append(note)
            if device == "cuda" and kind == "torch":
                for m, _ in (baseline, slim):
                    m.to("cpu")
    finally:
        torch.set_num_threads(previous)
    return out
