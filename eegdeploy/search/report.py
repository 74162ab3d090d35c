"""Search outputs: candidates.json, front.md, front.png and plan.json."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from eegdeploy.io import atomic_path, write_json, write_text
from eegdeploy.report.render import markdown_table
from eegdeploy.search.core import Candidate, SearchResult


def _cost(c: Candidate, objective: str) -> str:
    return f"{100 * c.macs_fraction:.1f}%" if objective == "macs" else f"{c.latency_ms:.2f}"


def front_markdown(res: SearchResult, command: str = "") -> str:
    obj = res.objective
    head = ["", "accuracy (val) %", "MACs (of baseline)" if obj == "macs" else "predicted latency ms", "params",
            "keep ratios"]
    rows = []
    for c in res.front:
        mark = "**chosen**" if c is res.chosen else "front"
        rows.append([mark, f"{100 * c.accuracy:.1f}", _cost(c, obj), f"{c.params:,}",
                     ", ".join(f"{g}={k:g}" for g, k in c.keep_ratios.items())])
    for c in res.uniform:
        rows.append([c.source, f"{100 * c.accuracy:.1f}", _cost(c, obj), f"{c.params:,}", "uniform"])
    lines = ["# Search: Pareto front", "", f"Objectives: validation accuracy and {obj}; {len(res.candidates)} candidates "
             f"evaluated; baseline accuracy {100 * res.baseline['accuracy']:.1f}%, {res.baseline['macs']:,} MACs.", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [markdown_table(head, rows), "", "![front](front.png)", ""]
    if res.lut_check:
        err = [abs(r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"] for r in res.lut_check]
        lines += ["Latency lookup table vs whole-model measurement (front points, torch-cpu, 1 thread):", "",
                  markdown_table(["predicted ms", "measured ms", "error"],
                                 [[f"{r['predicted_ms']:.2f}", f"{r['measured_ms']:.2f}", f"{100 * e:.0f}%"]
                                  for r, e in zip(res.lut_check, err)]), ""]
    return "\n".join(lines)


XLABELS = {"params": "params (% of unpruned)", "macs": "MACs (% of baseline)",
           "latency": "predicted latency (ms, torch-cpu)"}


def front_x(res: SearchResult) -> Callable[[Candidate], float]:
    """The cost axis of ``res``'s objective: params or MACs as % of the baseline, or predicted milliseconds."""
    if res.objective == "params":
        return lambda c: 100 * c.params / res.baseline["params"]
    if res.objective == "macs":
        return lambda c: 100 * c.macs_fraction
    return lambda c: c.latency_ms or 0.0


def plot_front(res: SearchResult, path: Path, *, evaluated: str = "evaluated", uniform: str = "uniform LFP") -> Path:
    """front.png of a search (CNN keep ratios or transformer subnets): every evaluated candidate, the Pareto
    front, uniform slimming and the chosen point, validation accuracy against the objective's cost."""
    from eegdeploy.report.plots import pyplot

    plt = pyplot()
    x = front_x(res)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.scatter([x(c) for c in res.candidates], [100 * c.accuracy for c in res.candidates], s=12, color="#bbbbbb",
               label=evaluated)
    f = sorted(res.front, key=x)
    ax.plot([x(c) for c in f], [100 * c.accuracy for c in f], "o-", color="#3b7dd8", label="Pareto front")
    u = sorted(res.uniform, key=x)
    ax.plot([x(c) for c in u], [100 * c.accuracy for c in u], "s--", color="#d8823b", label=uniform)
    ax.scatter([x(res.chosen)], [100 * res.chosen.accuracy], s=120, facecolors="none", edgecolors="red", label="chosen")
    ax.set_xlabel(XLABELS.get(res.objective, res.objective))
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def write_search(res: SearchResult, out: Path, command: str = "") -> None:
    write_json(out / "candidates.json", res.to_dict())
    write_text(out / "front.md", front_markdown(res, command))
    plot_front(res, out / "front.png")
    write_json(out / "plan.json", res.chosen.plan)
