"""Data containers handed between stages: plain numpy arrays, no framework objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    X: np.ndarray  # float32, shape (N, *input_shape)
    y: np.ndarray  # int64, shape (N,), values in [0, num_classes)
    groups: np.ndarray | None = None  # int64 subject (or trial) ids, shape (N,)

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    source: str  # "synthetic:<profile>", "npz:<path>", "deap:<folder>"

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.train), "n_val": len(self.val), "n_test": len(self.test)}
