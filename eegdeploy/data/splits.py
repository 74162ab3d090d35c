"""Seeded train/validation/test splits: random (stratified), by trial, by subject; k-fold and per-subject folds."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from eegdeploy.data.types import Split, Splits
from eegdeploy.errors import DataError, invalid_value, unknown_name

SPLITS = ("random", "trial", "subject")


def _take(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, trials: np.ndarray | None,
          idx: np.ndarray) -> Split:
    idx = np.sort(idx)
    return Split(X[idx], y[idx], None if groups is None else groups[idx], None if trials is None else trials[idx])


def _fractions(val: float, test: float) -> None:
    for name, v in (("val", val), ("test", test)):
        if not 0.0 <= v < 1.0:
            raise invalid_value(name, v, "a fraction in [0, 1)")
    if val + test >= 1.0:
        raise invalid_value("val + test", val + test, "less than 1 so something is left to train on")


def _unit_split(units: np.ndarray, val: float, test: float, rng: np.random.Generator, what: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.unique(units)
    if len(u) < 3:
        raise DataError(f"a split by {what} needs at least 3 {what}s, the data has {len(u)}",
                        fix="use --split random, or give data with more " + what + "s")
    rng.shuffle(u)
    n_test = max(1, round(test * len(u))) if test > 0 else 0
    n_val = max(1, round(val * len(u))) if val > 0 else 0
    return u[n_test + n_val:], u[n_test:n_test + n_val], u[:n_test]


def split_arrays(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, trials: np.ndarray | None, *,
                 seed: int, val: float = 0.15, test: float = 0.15, split: str = "random", source: str = "") -> Splits:
    """Split arrays into Splits. random: stratified per class; trial: whole trials; subject: whole subjects."""
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    _fractions(val, test)
    rng = np.random.default_rng(seed)
    n = len(y)
    if split == "random":
        tr, va, te = [], [], []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            n_te, n_va = int(round(test * len(idx))), int(round(val * len(idx)))
            te.append(idx[:n_te]); va.append(idx[n_te:n_te + n_va]); tr.append(idx[n_te + n_va:])
        parts = [np.concatenate(p) for p in (tr, va, te)]
    else:
        units = trials if split == "trial" else groups
        if units is None:
            raise DataError(f"--split {split} needs {'trial' if split == 'trial' else 'subject (groups)'} ids",
                            fix="give an .npz with a 'groups' (and 'trials') array, or use --split random")
        tr_u, va_u, te_u = _unit_split(units, val, test, rng, "trial" if split == "trial" else "subject")
        parts = [np.flatnonzero(np.isin(units, u)) for u in (tr_u, va_u, te_u)]
    if len(parts[0]) == 0 or (test > 0 and len(parts[2]) == 0):
        raise DataError(f"{n} samples are too few for a {split} split with val={val}, test={test}",
                        fix="give more data or smaller fractions")
    out = Splits(*(_take(X, y, groups, trials, p) for p in parts), source=source)
    out.split, out.seed = split, seed
    return out


def kfold(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, trials: np.ndarray | None = None, *,
          k: int, seed: int, split: str = "random", val: float = 0.15, source: str = "") -> Iterator[Splits]:
    """k folds: each fold's test part is one k-th (of samples, trials or subjects); val is carved from the rest."""
    if k < 2:
        raise invalid_value("folds", k, "an integer >= 2")
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    rng = np.random.default_rng(seed)
    units = {"random": np.arange(len(y)), "trial": trials, "subject": groups}[split]
    if units is None:
        raise DataError(f"k-fold by {split} needs {split} ids", fix="give groups/trials arrays or use --split random")
    u = np.unique(units)
    if len(u) < k:
        raise DataError(f"{k} folds need at least {k} {split} units, the data has {len(u)}", fix="use fewer folds")
    rng.shuffle(u)
    for fold, test_u in enumerate(np.array_split(u, k)):
        rest_u = np.setdiff1d(u, test_u)
        rng.shuffle(rest_u)
        n_val = max(1, int(round(val * len(rest_u)))) if val > 0 else 0
        val_u, tr_u = rest_u[:n_val], rest_u[n_val:]
        parts = [np.flatnonzero(np.isin(units, x)) for x in (tr_u, val_u, test_u)]
        out = Splits(*(_take(X, y, groups, trials, p) for p in parts), source=f"{source} fold {fold + 1}/{k}")
        out.split, out.seed, out.fold = split, seed, fold
        yield out


def per_subject(X: np.ndarray, y: np.ndarray, groups: np.ndarray, trials: np.ndarray | None = None
                ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]]:
    """(subject id, that subject's arrays) for subject-dependent protocols."""
    for s in np.unique(groups):
        idx = np.flatnonzero(groups == s)
        yield int(s), (X[idx], y[idx], groups[idx], None if trials is None else trials[idx])
