"""Sensitivity analysis: prune each prunable group alone at 10%, 20%, ... 90% (L1, no retraining) and record the
accuracy, to see which layers tolerate pruning and which do not (Li et al., 2017, section 3.4)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.nn as nn

from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.methods import plan_from_scores, prunable_groups
from eegdeploy.prune.surgery import apply_masks
from eegdeploy.prune.trace import analyse

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["RATIOS", "SensitivityResult", "plot", "plot_sensitivity", "sensitivity", "to_markdown", "to_table"]

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
        """Groups ranked by mean accuracy drop over all ratios, most sensitive first (ties: model order)."""
        mean_drop = {g: sum(self.baseline_accuracy - a for a in accs) / len(accs) for g, accs in self.accuracy.items()}
        return sorted(mean_drop, key=lambda g: -mean_drop[g])[:n]

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_accuracy": self.baseline_accuracy, "ratios": list(self.ratios),
                "accuracy": self.accuracy, "sizes": self.sizes, "split": self.split,
                "most_sensitive": self.most_sensitive()}


def sensitivity(model: nn.Module, splits: Any, *, example: torch.Tensor, ratios: Sequence[float] = RATIOS,
                keep: Sequence[str] = (), split: str = "val") -> SensitivityResult:
    """Prune each prunable group alone (L1, like lfp) at each ratio and evaluate on ``split`` without retraining.

    ``model`` is not modified. Falls back to the test split when ``split`` is empty (and says so in the result).
    """
    from eegdeploy.errors import DataError, invalid_value, unknown_name
    from eegdeploy.recover.loop import evaluate

    if split not in ("val", "test", "train"):
        raise unknown_name("split", split, ("val", "test", "train"))
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1:
            raise invalid_value("ratios", list(ratios), "numbers in (0, 1) such as 0.1,0.5,0.9")
    data = getattr(splits, split)
    if len(data) == 0 and split != "test":
        split, data = "test", splits.test
    if len(data) == 0:
        raise DataError("sensitivity needs labelled samples to evaluate, and the val and test splits are empty",
                        fix="use more data")
    was_training = model.training
    model.eval()
    analysis = analyse(model, example, keep=keep)
    imp = L1Importance()
    res = SensitivityResult(evaluate(model, data), tuple(float(r) for r in ratios), split=split)
    for g in prunable_groups(analysis):
        scores = {g.name: imp(analysis, g)}
        res.sizes[g.name] = g.size
        accs = []
        for r in ratios:
            plan = plan_from_scores(analysis, scores, r, method="lfp")
            pruned = apply_masks(copy.deepcopy(model), plan, example)
            accs.append(evaluate(pruned, data))
        res.accuracy[g.name] = accs
    model.train(was_training)
    return res


def to_table(res: SensitivityResult, *, title: str | None = None) -> "Table":
    """A Rich table: one row per group, accuracy (%) per ratio, the baseline in the title."""
    from rich import box
    from rich.table import Table

    table = Table(title=title or f"{res.split} accuracy with one group pruned alone (baseline "
                                 f"{100 * res.baseline_accuracy:.1f}%)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0))  # 9 ratios fit in 80 columns
    # group names are what the reader acts on (--keep): never cut them, the figures are narrow anyway
    table.add_column("group", no_wrap=True, min_width=max((len(g) for g in res.accuracy), default=5))
    table.add_column("ch", justify="right", no_wrap=True)
    for r in res.ratios:
        table.add_column(f"{round(100 * r)}%", justify="right", no_wrap=True, min_width=5)
    # (min_width 5 holds "100.0"; the box's column gap is the only padding)
    for g, accs in res.accuracy.items():
        table.add_row(g, str(res.sizes[g]), *(f"{100 * a:.1f}" for a in accs))
    return table


def to_markdown(res: SensitivityResult, *, plot: str | None = None) -> str:
    from eegdeploy.report.render import markdown_table

    header = ["group (layer)", "channels"] + [f"{round(100 * r)}%" for r in res.ratios]
    rows = [[g, res.sizes[g]] + [f"{100 * a:.1f}" for a in accs] for g, accs in res.accuracy.items()]
    most = ", ".join(res.most_sensitive()) or "none (no prunable group)"
    out = [f"# Sensitivity (accuracy on {res.split} after pruning one group alone, no retraining)", "",
           f"Baseline accuracy: {100 * res.baseline_accuracy:.1f}%. Most sensitive (largest mean drop): {most}.",
           "", markdown_table(header, rows), ""]
    if plot:
        out += [f"![sensitivity]({plot})", ""]
    return "\n".join(out)


def plot_sensitivity(res: SensitivityResult, path: Path) -> Path:
    from eegdeploy.io import atomic_path
    from eegdeploy.report.plots import pyplot

    plt = pyplot()
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


plot = plot_sensitivity
