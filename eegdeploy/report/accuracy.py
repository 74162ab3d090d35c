"""Accuracy with its context: the data it was measured on, how many samples, a 95% interval, the training behind it.

A test accuracy alone invites over-reading: on 90 test samples one sample is 1.1 points, and on synthetic data
the figure says nothing about real recordings. Every renderer (terminal, report.md, report.json, model card)
uses ``AccuracyContext`` so the figure never travels without its context. Torch-free.

>>> wilson_interval(45, 90)   # doctest: +ELLIPSIS
(0.39..., 0.60...)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["AccuracyContext", "accuracy_context", "accuracy_section", "context_from", "is_synthetic", "synthetic_warning",
           "wilson_interval"]

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``correct`` successes out of ``n`` (valid at 0% and 100%, unlike the normal one)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= correct <= n:
        raise ValueError(f"correct={correct} outside 0..{n}")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def is_synthetic(source: str) -> bool:
    return str(source).startswith("synthetic")


@dataclass(frozen=True)
class AccuracyContext:
    """One accuracy figure and what it rests on."""

    accuracy: float
    n: int  # test samples
    ci95: tuple[float, float]
    source: str  # data source label, e.g. "synthetic:eegnet-bci (seed 0)" or a file path
    training: str = ""  # what training this model received, e.g. "baseline: 10 epochs"

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.source)

    @property
    def point_value(self) -> float:
        """What one test sample is worth, in accuracy points."""
        return 100.0 / self.n if self.n else float("nan")

    def short(self) -> str:
        """'83.3% (95% CI 74.2–89.6%, n=90)'."""
        lo, hi = self.ci95
        return f"{100 * self.accuracy:.1f}% (95% CI {100 * lo:.1f}–{100 * hi:.1f}%, n={self.n})"

    def data_words(self) -> str:
        """'synthetic data (synthetic:eegnet-bci (seed 0))' or 'data.npz'."""
        return f"SYNTHETIC data ({self.source})" if self.synthetic else str(self.source)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        d["synthetic"] = self.synthetic
        return d


def accuracy_context(accuracy: float | None, n: int, source: str, training: str = "") -> AccuracyContext | None:
    """Build the context from an accuracy measured on ``n`` samples (None when nothing was measured)."""
    if accuracy is None or n <= 0:
        return None
    correct = int(round(accuracy * n))
    return AccuracyContext(accuracy=float(accuracy), n=int(n), ci95=wilson_interval(correct, n), source=str(source),
                           training=training)


def synthetic_warning(source: str, profile: str | None) -> str | None:
    """One line when synthetic data stands in for a model that is not a shipped profile (None otherwise)."""
    if not is_synthetic(source) or profile:
        return None
    return ("no --data: accuracy is measured on synthetic EEG made for this input shape, and this model is not a "
            "shipped profile, so it checks the pipeline, not the model; pass --data FILE.npz for real accuracy")


def accuracy_section(baseline: float | None, slim: float | None, n: int, source: str, *, baseline_training: str,
                     slim_training: str, profile: str | None = None) -> dict[str, Any]:
    """report.json's ``extras.accuracy``: each side with its interval and training, plus the data it rests on."""
    b = accuracy_context(baseline, n, source, baseline_training)
    s = accuracy_context(slim, n, source, slim_training)
    out: dict[str, Any] = {"data": str(source), "synthetic": is_synthetic(source), "n_test": int(n),
                           "one_sample_pts": round(100.0 / n, 3) if n else None, "interval": "Wilson score, 95%",
                           "baseline": b.to_dict() if b else None, "slim": s.to_dict() if s else None}
    warning = synthetic_warning(source, profile)
    if warning:
        out["warning"] = warning
    return out


def context_from(section: dict[str, Any] | None, side: str) -> AccuracyContext | None:
    """An AccuracyContext back from ``accuracy_section(...)[side]`` (as read from report.json)."""
    d = (section or {}).get(side)
    if not d:
        return None
    return AccuracyContext(accuracy=float(d["accuracy"]), n=int(d["n"]), ci95=(float(d["ci95"][0]), float(d["ci95"][1])),
                           source=str(d["source"]), training=str(d.get("training", "")))
