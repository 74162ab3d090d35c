"""Knowledge-guided recovery: losses that reward classification evidence where neuroscience expects it.

Evidence maps are Grad-CAM style: the gradient of the true-class logit with respect to a convolution's
activations, pooled per channel, weights the activations; the ReLU of the weighted sum is mapped back onto the
electrodes (the 9x9 grid for grid inputs, the electrode axis for raw signals). The share of evidence inside a
region of interest (prefrontal by default, for emotion) enters the loss:
- region-wise: cross-entropy − λ · mean in-region share (optionally + λ · out-of-region share);
- sample-wise: per-sample cross-entropy weighted by the sample's in-region share (normalised to mean 1);
- both.
The gradient is taken with ``create_graph=True``, so the loss is differentiable (second order). The extra cost
per batch is measured and reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.config import InputSpec
from eegdeploy.errors import ConfigError, invalid_value, unknown_name

MODES = ("region", "sample", "both")


@dataclass(frozen=True)
class KGConfig:
    mode: str = "region"
    region: str | tuple[str, ...] = "prefrontal"
    weight: float = 1.0
    layer: str | None = None  # module name; default: the first convolution
    penalise_outside: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "region": self.region if isinstance(self.region, str) else list(self.region),
                "weight": self.weight, "layer": self.layer, "penalise_outside": self.penalise_outside}

    def __post_init__(self) -> None:
        if isinstance(self.region, list):
            object.__setattr__(self, "region", tuple(self.region))
        if self.mode not in MODES:
            raise unknown_name("kg mode", self.mode, MODES)
        if not self.weight >= 0:
            raise invalid_value("kg-weight", self.weight, "a number >= 0")


def region_mask(spec: InputSpec, region: str | Sequence[str]) -> torch.Tensor:
    """Boolean mask over the input's electrode positions: [H, W] for grid inputs, [E] for raw signals."""
    from eegdeploy.data.electrodes import DEAP_GRID, channel_mask, region_electrodes

    grid = "grid_row" in tuple(spec.layout)
    available = list(DEAP_GRID) if grid and not spec.electrodes else list(spec.electrodes)
    if not available:
        raise ConfigError("the model's input has no electrode names, so a region cannot be mapped",
                          fix="use a profile with electrode names, or pass a custom list that matches them")
    names = region_electrodes(region, available)
    mask = channel_mask(spec, names)
    if not mask.any():
        raise ConfigError(f"region {region!r} maps to no position of this input", fix="choose another region")
    return torch.from_numpy(mask)


def default_layer(model: nn.Module) -> str:
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return name
    raise ConfigError("knowledge-guided recovery needs a convolution for its evidence maps",
                      fix="pass --kg-layer with a conv layer's name")


class EvidenceMap:
    """Captures a layer's activations during forward and turns them into per-electrode evidence."""

    def __init__(self, model: nn.Module, spec: InputSpec, layer: str | None = None) -> None:
        self.spec = spec
        self.grid = "grid_row" in tuple(spec.layout)
        name = layer or default_layer(model)
        try:
            self.module = model.get_submodule(name)
        except AttributeError:
            valid = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
            raise unknown_name("kg layer", name, valid) from None
        self.name = name
        self.acts: torch.Tensor | None = None
        self.handle = self.module.register_forward_hook(self._hook)

    def _hook(self, m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        self.acts = out

    def close(self) -> None:
        self.handle.remove()

    def maps(self, logits: torch.Tensor, y: torch.Tensor, *, create_graph: bool) -> torch.Tensor:
        """[N, positions] non-negative evidence per electrode position (grid cells flattened, or electrodes)."""
        a = self.acts
        if a is None or a.dim() != 4:
            raise ConfigError(f"kg layer {self.name!r} does not produce [N, C, H, W] activations",
                              fix="pick a 2-D convolution with --kg-layer")
        score = logits.gather(1, y.view(-1, 1)).sum()
        (g,) = torch.autograd.grad(score, a, create_graph=create_graph, retain_graph=True)
        w = g.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((w * a).sum(dim=1))  # [N, H, W]
        if self.grid:
            h, wd = int(self.spec.shape[-2]), int(self.spec.shape[-1])
            if cam.shape[-2:] != (h, wd):
                cam = F.interpolate(cam.unsqueeze(1), size=(h, wd), mode="bilinear", align_corners=False).squeeze(1)
            return cam.flatten(1)
        e = int(self.spec.shape[-2])
        if cam.shape[-2] != e:
            raise ConfigError(f"kg layer {self.name!r} has already mixed the electrode axis ({cam.shape[-2]} rows, "
                              f"input has {e} electrodes)", fix="pick an earlier convolution with --kg-layer")
        return cam.sum(dim=-1)  # evidence per electrode, summed over time


def in_region_share(maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    flat = mask.flatten().to(maps.device)
    total = maps.sum(dim=1) + 1e-8
    return maps[:, flat].sum(dim=1) / total


class KnowledgeGuided:
    """A recovery callback (eegdeploy.recover.fit ``callbacks=``) replacing the loss with the KG loss."""

    def __init__(self, config: KGConfig, spec: InputSpec, model: nn.Module) -> None:
        self.config, self.spec = config, spec
        self.mask = region_mask(spec, config.region)
        self.evidence = EvidenceMap(model, spec, config.layer)
        self.seconds = 0.0
        self.batches = 0

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor,
             loss: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        maps = self.evidence.maps(logits, y, create_graph=True)
        share = in_region_share(maps, self.mask)
        lam = self.config.weight
        mode = self.config.mode
        if mode in ("sample", "both"):
            per = F.cross_entropy(logits, y, reduction="none")
            w = share.detach() + 1e-3
            base = (per * (w / w.mean())).mean()
        else:
            base = loss
        if mode in ("region", "both"):
            base = base - lam * share.mean()
            if self.config.penalise_outside:
                base = base + lam * (1 - share).mean()
        self.seconds += time.perf_counter() - t0
        self.batches += 1
        return base

    @property
    def cost_per_batch_s(self) -> float:
        return self.seconds / max(1, self.batches)

    def close(self) -> None:
        self.evidence.close()


def evidence(model: nn.Module, X: np.ndarray, y: np.ndarray, spec: InputSpec, *, layer: str | None = None,
             batch_size: int = 128) -> np.ndarray:
    """Mean evidence map over samples (eval mode), shaped like the electrode layout ([H, W] or [E])."""
    ev = EvidenceMap(model, spec, layer)
    was = model.training
    model.eval()
    total = None
    try:
        for i in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[i:i + batch_size])
            yb = torch.as_tensor(y[i:i + batch_size])
            with torch.enable_grad():
                maps = ev.maps(model(xb), yb, create_graph=False).detach()
            s = maps.sum(dim=0)
            total = s if total is None else total + s
    finally:
        ev.close()
        model.train(was)
    out = (total / max(1, len(X))).numpy()
    if ev.grid:
        out = out.reshape(int(spec.shape[-2]), int(spec.shape[-1]))
    return out


def evidence_share(model: nn.Module, X: np.ndarray, y: np.ndarray, spec: InputSpec, region: str | Sequence[str],
                   *, layer: str | None = None) -> float:
    """Mean in-region evidence share per sample, in [0, 1]."""
    mask = region_mask(spec, region)
    ev = EvidenceMap(model, spec, layer)
    was = model.training
    model.eval()
    shares = []
    try:
        for i in range(0, len(X), 128):
            xb, yb = torch.as_tensor(X[i:i + 128]), torch.as_tensor(y[i:i + 128])
            with torch.enable_grad():
                maps = ev.maps(model(xb), yb, create_graph=False).detach()
            shares.append(in_region_share(maps, mask))
    finally:
        ev.close()
        model.train(was)
    return float(torch.cat(shares).mean()) if shares else float("nan")


def plot_evidence(maps: dict[str, np.ndarray], spec: InputSpec, path: Any, region: str | Sequence[str]) -> Any:
    """Heatmaps (grid inputs) or per-electrode bars (raw inputs), one panel per model."""
    from eegdeploy.io import atomic_path
    from eegdeploy.report.plots import pyplot

    plt = pyplot()
    mask = region_mask(spec, region).numpy()
    n = len(maps)
    grid = "grid_row" in tuple(spec.layout)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n if grid else 5 * n, 3.4), squeeze=False)
    for ax, (title, m) in zip(axes[0], maps.items()):
        m = m / (m.sum() + 1e-12)
        if grid:
            im = ax.imshow(m, cmap="viridis")
            ys, xs = np.nonzero(mask)
            ax.scatter(xs, ys, s=30, facecolors="none", edgecolors="red", linewidths=1)
            fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_xticks([]); ax.set_yticks([])
        else:
            colors = ["#d83b3b" if k else "#3b7dd8" for k in mask]
            ax.bar(range(len(m)), m, color=colors)
            ax.set_xticks(range(len(m)), list(spec.electrodes), rotation=90, fontsize=6)
        ax.set_title(title, fontsize=9)
    fig.suptitle("evidence share (region of interest in red)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def guided_fit(model: nn.Module, splits: Any, train: Any, kg: KGConfig, spec: InputSpec, *, seed: int = 0,
               callbacks: Sequence[Any] = (), say: Any = None) -> tuple[Any, dict[str, Any]]:
    """Knowledge-guided recovery of ``model`` (in place), beside a plain run from the same weights and seed so the
    two can be compared; returns the guided run's ``FitResult`` and the comparison (shares, accuracies, maps).

    The guided model is the one kept; the plain copy exists only to be measured.
    """
    import copy

    from eegdeploy.recover.loop import evaluate, fit

    say = say or (lambda stage, msg: None)
    test = splits.test if len(splits.test) else splits.val
    share = lambda m: evidence_share(m, test.X, test.y, spec, kg.region, layer=kg.layer)  # noqa: E731
    before = share(model)
    before_map = evidence(model, test.X, test.y, spec, layer=kg.layer)
    say("recover", "plain recovery first, for comparison")
    plain = copy.deepcopy(model)
    plain_res = fit(plain, splits, train, seed=seed, callbacks=list(callbacks))
    say("recover", f"knowledge-guided recovery ({kg.mode}, region {kg.region}, weight {kg.weight:g})")
    cb = KnowledgeGuided(kg, spec, model)
    try:
        # the kg loss first, so that a blending callback (distill) mixes it with the teacher term
        res = fit(model, splits, train, seed=seed, callbacks=[cb, *callbacks])
    finally:
        cb.close()
    comparison = {
        "mode": kg.mode, "region": kg.region if isinstance(kg.region, str) else list(kg.region), "weight": kg.weight,
        "layer": cb.evidence.name, "share_before": before,
        "plain": {"share": share(plain), "accuracy": evaluate(plain, splits.test),
                  "best_val_accuracy": plain_res.best_val_accuracy, "seconds": plain_res.seconds},
        "kg": {"share": share(model), "accuracy": evaluate(model, splits.test),
               "best_val_accuracy": res.best_val_accuracy, "seconds": res.seconds},
        "cost_per_batch_s": cb.cost_per_batch_s,
        "maps": {"before recovery": before_map.tolist(),
                 "plain recovery": evidence(plain, test.X, test.y, spec, layer=kg.layer).tolist(),
                 "knowledge-guided": evidence(model, test.X, test.y, spec, layer=kg.layer).tolist()},
    }
    return res, comparison
