"""Training loop shared by baseline training and recovery after pruning.

One loop, extended through callbacks instead of flags: a pruning method adds
a loss term (NSFP's L1 on BatchNorm scales), keeps masks at zero after each
optimiser step (UWMP), or acts at the end of an epoch (SFP re-zeroing); the
knowledge-guided losses replace the criterion. The best-validation weights
are kept; ``patience`` stops early.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.config import TrainConfig
from eegdeploy.data.types import Split, Splits
from eegdeploy.errors import DataError


class Callback(Protocol):
    """Hooks into :func:`fit`. Implement any subset; missing methods are skipped."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor,
             loss: torch.Tensor) -> torch.Tensor: ...

    def after_step(self, model: nn.Module) -> None: ...

    def on_epoch_end(self, model: nn.Module, epoch: int, epochs: int) -> None: ...


Progress = Callable[[int, int, dict[str, float]], None]


@dataclass
class FitResult:
    best_val_accuracy: float
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def batches(split: Split, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None
            ) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    X = torch.from_numpy(np.ascontiguousarray(split.X, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(split.y, dtype=np.int64))
    order = torch.randperm(len(y), generator=generator) if shuffle else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        if shuffle and len(idx) < 2 and len(y) > 1:  # BatchNorm cannot train on a batch of one
            continue
        yield X[idx], y[idx]


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for ``X`` in eval mode (restores the previous mode)."""
    was = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size], dtype=np.float32))
            out.append(model(xb).float().cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate(model: nn.Module, split: Split) -> float:
    """Accuracy in [0, 1] on ``split``."""
    if len(split) == 0:
        raise DataError("cannot evaluate on an empty split", fix="use more data or smaller val/test fractions")
    logits = predict(model, split.X)
    return float((logits.argmax(1) == split.y).mean())


def fit(
    model: nn.Module,
    splits: Splits,
    cfg: TrainConfig,
    *,
    callbacks: Sequence[object] = (),
    seed: int = 0,
    progress: Progress | None = None,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    restore_best: bool = True,
) -> FitResult:
    """Train ``model`` in place; at the end it holds the best-validation weights.

    ``restore_best=False`` keeps the last epoch's weights instead (SFP needs the
    state its final re-zeroing produced).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = _make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma) if cfg.step_size > 0 else None
    crit = criterion or F.cross_entropy
    hooks_loss = [cb.loss for cb in callbacks if hasattr(cb, "loss")]
    hooks_step = [cb.after_step for cb in callbacks if hasattr(cb, "after_step")]
    hooks_epoch = [cb.on_epoch_end for cb in callbacks if hasattr(cb, "on_epoch_end")]
    from eegdeploy.models.zoo import apply_maxnorm, maxnorm_constraints

    maxnorm = bool(maxnorm_constraints(model))
    t0 = time.perf_counter()
    best_acc, best_epoch, best_state = -1.0, -1, None
    history: list[dict[str, float]] = []
    stale = 0
    for epoch in range(cfg.epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in batches(splits.train, cfg.batch_size, shuffle=True, generator=gen):
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = crit(logits, yb)
            for hook in hooks_loss:
                loss = hook(model, xb, yb, logits, loss)
            if not torch.isfinite(loss):
                raise DataError(f"training diverged at epoch {epoch + 1} (loss is {loss.item()})",
                                fix="lower the learning rate (--lr) or check the data for extreme values")
            loss.backward()
            opt.step()
            if maxnorm:
                apply_maxnorm(model)
            for hook in hooks_step:
                hook(model)
            total += float(loss.detach()) * len(yb)
            n += len(yb)
        if sched is not None:
            sched.step()
        for hook in hooks_epoch:
            hook(model, epoch, cfg.epochs)
        val_acc = evaluate(model, splits.val)
        row = {"epoch": epoch + 1, "loss": total / max(n, 1), "val_accuracy": val_acc}
        history.append(row)
        if progress:
            progress(epoch + 1, cfg.epochs, row)
        if val_acc > best_acc:
            best_acc, best_epoch, stale = val_acc, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                break
    if best_state is not None and restore_best:
        model.load_state_dict(best_state)
    model.eval()
    if best_acc < 0:
        best_acc = evaluate(model, splits.val) if len(splits.val) else math.nan
    return FitResult(best_acc, best_epoch, len(history), history, time.perf_counter() - t0)
