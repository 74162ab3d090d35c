"""The result of a compress run, as plain dataclasses; report.json is ``to_dict()``.

Schema 1 is a contract (see DESIGN.md): keys may be added, never renamed or
removed. Everything beyond the contract lives under ``extras``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

Latency = dict[str, dict[str, dict[str, float]]]  # "<runtime>-<device>" -> batch -> {"p50", "p90", "p99", ...}


@dataclass
class StageFigures:
    params: int
    macs: int
    flops: int
    accuracy: float | None
    onnx_bytes: int
    latency_ms: Latency = field(default_factory=dict)
    nonzero_params: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["nonzero_params"] is None:
            del d["nonzero_params"]
        return d


@dataclass
class CompressResult:
    eegdeploy_version: str
    model: dict[str, Any]
    recipe: dict[str, Any]
    data: dict[str, Any]
    baseline: StageFigures
    slim: StageFigures
    parity: dict[str, float]
    timings_s: dict[str, float]
    environment: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    int8: StageFigures | None = None  # the kept slim.int8.onnx (onnxruntime figures only), when there is one
    pruned: StageFigures | None = None  # the slim model before rewrites (pruning only), when rewrites ran
    rewrites: list[dict[str, Any]] | None = None  # every chain the rewrite stage decided: layers, form, timings, gain

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema": SCHEMA_VERSION,
            "eegdeploy_version": self.eegdeploy_version,
            "model": self.model,
            "recipe": self.recipe,
            "data": self.data,
            "baseline": self.baseline.to_dict(),
            "slim": self.slim.to_dict(),
            "parity": self.parity,
            "timings_s": self.timings_s,
            "environment": self.environment,
            "extras": self.extras,
        }
        if self.int8 is not None:
            d["int8"] = self.int8.to_dict()
        if self.pruned is not None:
            d["pruned"] = self.pruned.to_dict()
        if self.rewrites is not None:
            d["rewrites"] = self.rewrites
        return _finite(d)

    # Ratios slim / baseline, used by every renderer.
    def ratio(self, key: str) -> float | None:
        b, s = getattr(self.baseline, key), getattr(self.slim, key)
        if b in (None, 0) or s is None:
            return None
        return s / b

    def speedup(self, runtime: str, batch: int | str, stat: str = "p50", of: str = "slim") -> float | None:
        """baseline / ``of`` latency (``of``: "slim" or "int8") for ``runtime`` at ``batch`` (64 or "64")."""
        batch = str(batch)
        other = getattr(self, of)
        try:
            b = self.baseline.latency_ms[runtime][batch][stat]
            s = other.latency_ms[runtime][batch][stat]
        except (KeyError, AttributeError):
            return None
        return b / s if s > 0 else None


def _finite(obj: Any) -> Any:
    """JSON has no NaN/Inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


REQUIRED_KEYS = {
    "schema": int, "eegdeploy_version": str, "model": dict, "recipe": dict, "data": dict,
    "baseline": dict, "slim": dict, "parity": dict, "timings_s": dict, "environment": dict,
}
STAGE_KEYS = {"params": int, "macs": int, "flops": int, "onnx_bytes": int, "latency_ms": dict}


def validate_report(d: dict[str, Any]) -> list[str]:
    """Problems with a report.json dict against schema 1 (empty list when valid)."""
    problems = []
    for key, typ in REQUIRED_KEYS.items():
        if not isinstance(d.get(key), typ):
            problems.append(f"{key}: expected {typ.__name__}")
    for stage in ("baseline", "slim"):
        s = d.get(stage) or {}
        for key, typ in STAGE_KEYS.items():
            if not isinstance(s.get(key), typ):
                problems.append(f"{stage}.{key}: expected {typ.__name__}")
        if "accuracy" not in s or not (s["accuracy"] is None or isinstance(s["accuracy"], float)):
            problems.append(f"{stage}.accuracy: expected float or null")
        for rt, by_batch in (s.get("latency_ms") or {}).items():
            if rt not in ("torch-cpu", "ort-cpu", "torch-cuda", "ort-cuda"):
                problems.append(f"{stage}.latency_ms: unknown runtime {rt!r}")
            for batch, stats in by_batch.items():
                for q in ("p50", "p90", "p99"):
                    if not isinstance(stats.get(q), float):
                        problems.append(f"{stage}.latency_ms.{rt}.{batch}.{q}: expected float")
    for key in ("name", "arch", "input_shape", "num_classes"):
        if key not in (d.get("model") or {}):
            problems.append(f"model.{key}: missing")
    for key in ("method", "ratio", "recover", "epochs", "seed"):
        if key not in (d.get("recipe") or {}):
            problems.append(f"recipe.{key}: missing")
    for key in ("source", "n_train", "n_val", "n_test"):
        if key not in (d.get("data") or {}):
            problems.append(f"data.{key}: missing")
    for key in ("slim_vs_pruned_max_abs", "onnx_vs_torch_max_abs"):
        if not isinstance((d.get("parity") or {}).get(key), float):
            problems.append(f"parity.{key}: expected float")
    for key in ("cpu", "threads", "torch", "onnxruntime", "gpu"):
        if key not in (d.get("environment") or {}):
            problems.append(f"environment.{key}: missing")
    return problems
