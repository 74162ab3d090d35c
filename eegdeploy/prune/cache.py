"""Reuse of a pruning result across runs that differ only after pruning (a sweep's recovery modes).

SFP and NSFP make their plan by training (soft pruning, BatchNorm sparsity): in a sweep, every recovery mode of one
(method, ratio, fold) repeats that training to the same result. ``prune_key`` names everything the result depends
on: the baseline's weights, the training and validation data, the method's full configuration, the recipe, the
seed, the example's shape and the eegdeploy version; ``load`` returns the stored plan and weights for a key, or
None. Entries are written whole (a staging folder renamed into place), so a cut-short run leaves no half entry, and
read with ``torch.load(weights_only=True)``: tensors only, never code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from eegdeploy._version import __version__
from eegdeploy.prune.plan import PrunePlan


def _tensor_digest(h: "hashlib._Hash", name: str, t: torch.Tensor | np.ndarray) -> None:
    a = t.detach().cpu().contiguous().numpy() if isinstance(t, torch.Tensor) else np.ascontiguousarray(t)
    h.update(f"{name}:{a.dtype}:{a.shape};".encode())
    h.update(a.tobytes())


def prune_key(baseline: nn.Module, splits: Any, options: dict[str, Any]) -> str:
    """A digest of the baseline's state, the train and validation arrays and ``options`` (JSON-able: method
    configuration, recipe, seed, input shape)."""
    h = hashlib.sha256()
    for name, t in baseline.state_dict().items():
        if isinstance(t, torch.Tensor):
            _tensor_digest(h, name, t)
    for part in ("train", "val"):
        split = getattr(splits, part)
        _tensor_digest(h, f"{part}.X", split.X)
        _tensor_digest(h, f"{part}.y", split.y)
    h.update(json.dumps({**options, "eegdeploy": __version__}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def load(folder: Path | str, key: str, like: nn.Module) -> tuple[PrunePlan, nn.Module] | None:
    """The stored plan and a copy of ``like`` carrying the stored weights, or None (no entry, or one that does not
    fit ``like``: then the caller prunes again)."""
    import copy

    entry = Path(folder) / key
    if not (entry / "plan.json").is_file() or not (entry / "weights.pt").is_file():
        return None
    try:
        plan = PrunePlan.load(entry / "plan.json")
        state = torch.load(entry / "weights.pt", map_location="cpu", weights_only=True)
        model = copy.deepcopy(like)
        model.load_state_dict(state, strict=True)
    except Exception:  # noqa: BLE001 - a stale or foreign entry is a miss, never a failure
        return None
    return plan, model


def save(folder: Path | str, key: str, plan: PrunePlan, model: nn.Module) -> None:
    """Store ``plan`` and ``model``'s weights under ``key``; an entry another process wrote first is kept."""
    folder = Path(folder)
    entry = folder / key
    if entry.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    try:
        plan.save(tmp / "plan.json")
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / "weights.pt")
        try:
            os.replace(tmp, entry)
        except OSError:  # written meanwhile by a parallel cell: theirs is the same result
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
