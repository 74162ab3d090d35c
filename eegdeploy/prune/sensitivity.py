"""Sensitivity analysis: prune each prunable group alone at 10%, 20%, ... 90% (L1, no retraining) and record the
accuracy, to see which layers tolerate pruning and which do not (Li et al., 2017, section 3.4)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.methods import plan_from_scores, prunable_groups
from eegdeploy.prune.surgery import apply_masks
from eegdeploy.prune.trace import analyse

RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class SensitivityResult:
    baseline_accuracy: float
    ratios: tuple[float, ...]
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # group -> accuracy per ratio
    sizes: dict[str, int] = field(default_factory=dict)
    split: str = "val"

    def drop_at(self, group: str, ratio: float = 0.5) -> float:
        i = min(range(len(self.ratios)), key=lambda j: abs(self.ratios[j] - ratio))
        return self.baseline_accuracy - self.accuracy[group][i]

    def most_sensitive(self, n: int = 3) -> list[str]:
        """Groups ranked by mean accuracy drop over all ratios, most sensitive first."""
        mean_drop = {g: sum(self.baseline_accuracy - a for a in accs) / len(accs) for g, accs in self.accuracy.items()}
        return sorted(mean_drop, key=lambda g: -mean_drop[g])[:n]

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_accuracy": self.baseline_accuracy, "ratios": list(self.ratios),
                "accuracy": self.accuracy, "sizes": self.sizes, "split": self.split,
                "most_sensitive": self.most_sensitive()}


def sensitivity(model: nn.Module, splits: Any, *, example: torch.Tensor, ratios: Sequence[float] = RATIOS,
                keep: Sequence[str] = (), split: str = "val") -> SensitivityResult:
    from eegdeploy.recover.loop import evaluate

    data = getattr(splits, split)
    if len(data) == 0:
        data = splits.test
    model = model.eval()
    analysis = analyse(model, example, keep=keep)
    imp = L1Importance()
    res = SensitivityResult(evaluate(model, data), tuple(ratios), split=split)
    for g in prunable_groups(analysis):
        scores = {g.name: imp(analysis, g)}
        res.sizes[g.name] = g.size
        accs = []
        for r in ratios:
            plan = plan_from_scores(analysis, scores, r, method="lfp")
            pruned = apply_masks(copy.deepcopy(model), plan, example)
            accs.append(evaluate(pruned, data))
        res.accuracy[g.name] = accs
    return res


def to_markdown(res: SensitivityResult, *, plot: str | None = None) -> str:
    from eegdeploy.report.render import markdown_table

    header = ["group (layer)", "channels"] + [f"{int(100 * r)}%" for r in res.ratios]
    rows = [[g, res.sizes[g]] + [f"{100 * a:.1f}" for a in accs] for g, accs in res.accuracy.items()]
    out = [f"# Sensitivity (accuracy on {res.split} after pruning one group alone, no retraining)", "",
           f"Baseline accuracy: {100 * res.baseline_accuracy:.1f}%. Most sensitive: "
           f"{', '.join(res.most_sensitive())}.", "", markdown_table(header, rows), ""]
    if plot:
        out += [f"![sensitivity]({plot})", ""]
    return "\n".join(out)


def plot_sensitivity(res: SensitivityResult, path: Path) -> Path:
    from eegdeploy.io import atomic_path
    from eegdeploy.report.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for g, accs in res.accuracy.items():
        ax.plot([100 * r for r in res.ratios], [100 * a for a in accs], marker="o", ms=3, label=g)
    ax.axhline(100 * res.baseline_accuracy, color="grey", ls="--", lw=1, label="baseline")
    ax.set_xlabel("channels removed from this group alone (%)")
    ax.set_ylabel(f"{res.split} accuracy (%)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
