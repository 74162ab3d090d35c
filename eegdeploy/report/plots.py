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
    acc = result.extras.get("accuracy") or {}
    sides = [(side, acc.get(side)) for side in ("baseline", "slim") if acc.get(side)]
    if sides:
        fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(max(6, 0.9 * len(labels) + 2) + 2.4, 3.6),
                                         gridspec_kw={"width_ratios": [max(3, len(labels)), 1.6]})
        _accuracy_panel(ax_acc, sides, acc)
    else:
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


def _accuracy_panel(ax, sides: list, acc: dict) -> None:
    """Test accuracy of baseline and slim with their 95% Wilson intervals."""
    xs = range(len(sides))
    vals = [100 * d["accuracy"] for _, d in sides]
    lo = [100 * (d["accuracy"] - d["ci95"][0]) for _, d in sides]
    hi = [100 * (d["ci95"][1] - d["accuracy"]) for _, d in sides]
    ax.bar(xs, vals, color=["#9a9a9a", "#3b7dd8"][:len(sides)], yerr=[lo, hi], capsize=4)
    for x, v in zip(xs, vals):
        ax.text(x, 2, f"{v:.1f}%", ha="center", fontsize=8, color="white")
    ax.set_xticks(list(xs), [s for s, _ in sides], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    data = "synthetic data" if acc.get("synthetic") else "test data"
    ax.set_title(f"accuracy, 95% CI\n{data}, n={acc.get('n_test')}", fontsize=8)


def plot_channels(plan: dict, path: Path) -> Path:
    """Channels kept vs removed per pruned layer; groups the plan left whole (frozen: the classifier, --keep,
    layers the analysis could not follow) are named in the title, not drawn as if they had been pruned."""
    plt = pyplot()
    whole = [g for g in plan["keep"] if len(plan["keep"][g]) == plan["sizes"][g]]
    names = [g for g in plan["keep"] if g not in whole] or list(plan["keep"])
    kept = [len(plan["keep"][g]) for g in names]
    removed = [plan["sizes"][g] - k for g, k in zip(names, kept)]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 3.6))
    ax.bar(range(len(names)), kept, label="kept", color="#3b7dd8")
    ax.bar(range(len(names)), removed, bottom=kept, label="removed", color="#d8d8d8")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("channels")
    ax.legend()
    ax.set_title("channels per pruned layer" + (f" (left whole: {', '.join(whole)[:80]})" if whole else ""),
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
