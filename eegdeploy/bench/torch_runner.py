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
    a, b = compare_many([baseline, slim], example=example, batches=batches, threads=threads, iters=iters,
                        warmup=warmup, runtimes=runtimes, labels=("baseline", "slim"))
    return a, b


def compare_many(models: Sequence[tuple[nn.Module | None, str | Path | None]], *, example: torch.Tensor,
                 batches: Sequence[int] = (1, 64), threads: int = 1, iters: int = 30, warmup: int = 5,
                 runtimes: Sequence[str] = ("ort-cpu", "torch-cpu"), labels: Sequence[str] = ()
                 ) -> list[LatencyResult]:
    """Any number of models timed interleaved (A, B, C, A, B, C, ...) per runtime and batch. A model whose module
    is None is left out of the torch runtimes, one whose path is None out of the onnxruntime ones; notes go to
    the first model's result."""
    out = [LatencyResult() for _ in models]
    names = list(labels) or [f"model {i}" for i in range(len(models))]
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
            idx = [i for i, (m, p) in enumerate(models) if (p if kind == "ort" else m) is not None]
            sessions = {i: ort_session(models[i][1], threads=threads, device=device) for i in idx} if kind == "ort" else {}
            sync = torch.cuda.synchronize if device == "cuda" else None
            for b in batches:
                fns = {i: (ort_runner(sessions[i], b) if kind == "ort" else torch_runner(models[i][0], example, b, device))
                       for i in idx}
                for fn in fns.values():
                    time_calls(fn, iters=0, warmup=warmup, sync=sync)
                times: dict[int, list[float]] = {i: [] for i in idx}
                for _ in range(iters):
                    for i, fn in fns.items():
                        times[i].extend(time_calls(fn, iters=1, warmup=0, sync=sync))
                for i in idx:
                    s = summarize(times[i], b)
                    out[i].add(runtime, b, s)
                    if note := stability_note(f"{names[i]} {runtime} batch {b}", s):
                        out[i].notes.append(note)
            if device == "cuda" and kind == "torch":
                for i in idx:
                    models[i][0].to("cpu")  # type: ignore[union-attr]
    finally:
        torch.set_num_threads(previous)
    return out
