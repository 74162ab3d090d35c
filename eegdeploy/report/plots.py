"""PNG plots for report.md (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from eegdeploy.io import atomic_path
from eegdeploy.report.schema import CompressResult


def pyplot():
    """matplotlib.pyplot on the headless Agg backend, imported on first use (it is slow to import).

    The one way plots anywhere in eegdeploy get matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_comparison(result: CompressResult, path: Path) -> Path:
    """Bars: slim as a fraction of baseline for params, MACs, size and each latency."""
    plt = pyplot()
    labels, values = [], []
    for key, label in (("params", "params"), ("macs", "MACs"), ("onnx_bytes", "ONNX size")):
        r = result.ratio(key)
        if r is not None:
            labels.append(label)
            values.append(r)
    for runtime in sorted(result.baseline.latency_ms):
        for batch in sorted(result.baseline.latency_ms[runtime], key=int):
            sp = result.speedup(runtime, batch)
            if sp:
                labels.append(f"{runtime}\nbatch {batch}")
                values.append(1 / sp)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) + 2), 3.6))
    bars = ax.bar(range(len(values)), values, color="#3b7dd8")
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("slim / baseline")
    ax.set_ylim(0, max(1.15, max(values, default=1) + 0.15))
    ax.set_title(f"{result.model['name']}: {result.recipe['method']} @ {result.recipe['ratio']} (lower is better)")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_channels(plan: dict, path: Path) -> Path:
    """Channels kept vs removed per prunable layer."""
    plt = pyplot()
    names = list(plan["keep"])
    kept = [len(plan["keep"][g]) for g in names]
    removed = [plan["sizes"][g] - k for g, k in zip(names, kept)]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 3.6))
    ax.bar(range(len(names)), kept, label="kept", color="#3b7dd8")
    ax.bar(range(len(names)), removed, bottom=kept, label="removed", color="#d8d8d8")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("channels")
    ax.legend()
    ax.set_title("channels per prunable layer")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
