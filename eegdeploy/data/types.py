"""Data containers handed between stages: plain numpy arrays, no framework objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    X: np.ndarray  # float32, shape (N, *input_shape)
    y: np.ndarray  # int64, shape (N,), values in [0, num_classes)
    groups: np.ndarray | None = None  # int64 subject ids, shape (N,)
    trials: np.ndarray | None = None  # int64 trial (recording) ids, shape (N,)

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    source: str  # "synthetic:<profile>", "npz:<path>", "deap:<folder>"
    split: str = "random"  # random | trial | subject
    seed: int = 0
    fold: int | None = None

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.train), "n_val": len(self.val), "n_test": len(self.test)}

    def describe(self) -> str:
        s = self.sizes()
        fold = f", fold {self.fold + 1}" if self.fold is not None else ""
        return (f"{self.source}: {s['n_train']} train / {s['n_val']} val / {s['n_test']} test "
                f"({self.split} split, seed {self.seed}{fold})")
