"""Latency statistics from raw timings (milliseconds)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

UNSTABLE_CV = 0.25  # spread above this (std / median) earns a stability warning


def summarize(times_ms: Sequence[float], batch: int) -> dict[str, float]:
    t = np.asarray(times_ms, dtype=float)
    p50 = float(np.percentile(t, 50))
    return {
        "p50": p50, "p90": float(np.percentile(t, 90)), "p99": float(np.percentile(t, 99)),
        "mean": float(t.mean()), "std": float(t.std()), "min": float(t.min()), "n": int(len(t)),
        "throughput_per_s": float(batch * 1000.0 / p50) if p50 > 0 else float("inf"),
    }


def stability_note(label: str, s: dict[str, float]) -> str | None:
    if s["p50"] > 0 and s["std"] / s["p50"] > UNSTABLE_CV:
        return f"{label}: unstable timing (std {s['std']:.3g} ms vs median {s['p50']:.3g} ms); close other programs or raise --iters"
    return None
