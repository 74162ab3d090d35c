"""User data as .npz: arrays X (N, *input_shape), y (N,) and optional groups (subject ids) and trials."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from eegdeploy.config import Profile
from eegdeploy.errors import DataError

Arrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"]


def shape_fix(data: tuple[int, ...], model: tuple[int, ...]) -> str:
    """Where to look when the data's sample shape and the model's input shape differ. The hint names the flag
    or the data, never a reshape that would scramble electrodes and time."""
    def flag(shape: tuple[int, ...]) -> str:
        return ",".join(map(str, shape))

    squeezed = tuple(d for d in data if d != 1)
    if sorted(squeezed) == sorted(d for d in model if d != 1) and squeezed != tuple(d for d in model if d != 1):
        return (f"the axes are in another order: if the model was built for {data}, pass --input-shape "
                f"{flag(data)}; otherwise transpose X to (N, {', '.join(map(str, model))})")
    if int(np.prod(data)) == int(np.prod(model)) and len(data) < len(model):
        return f"reshape X to (N, {', '.join(map(str, model))}) if its samples are flattened"
    return (f"give data recorded for the model's input {model}, or a model built for {data} "
            f"(its --profile, or --arch with --input-shape {flag(data if data[0] == 1 or len(data) > 2 else (1, *data))})")


def validate_arrays(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, profile: Profile, where: str) -> Arrays:
    """Check and normalise arrays against the profile's input; raise DataError naming the problem and the fix."""
    shape = tuple(profile.input.shape)
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "fiu" or X.ndim < 2:
        raise DataError(f"{where}: X must be a numeric array of shape (N, {', '.join(map(str, shape))})",
                        fix="save X as float32 with one sample per row")
    if X.ndim == len(shape) and len(shape) >= 2 and shape[0] == 1 and tuple(X.shape[1:]) == shape[1:]:
        X = X[:, None]  # (N, electrodes, time) for a (1, electrodes, time) input
    if tuple(X.shape[1:]) != shape:
        raise DataError(f"{where}: X has samples of shape {tuple(X.shape[1:])}, the model takes {shape}",
                        fix=shape_fix(tuple(X.shape[1:]), shape))
    if len(X) == 0:
        raise DataError(f"{where}: the dataset is empty", fix="give at least a few samples per class")
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).sum())
        raise DataError(f"{where}: X holds {bad} NaN or Inf values", fix="clean or interpolate them before compressing")
    if not isinstance(y, np.ndarray) or y.ndim != 1 or len(y) != len(X):
        raise DataError(f"{where}: y must be a 1-D array with one label per sample ({len(X)})",
                        fix="save y as integers of shape (N,)")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{where}: y holds non-integer labels", fix="save class indices 0..K-1 as integers")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{where}: y has dtype {y.dtype}", fix="save class indices 0..K-1 as integers")
    y = y.astype(np.int64)
    k = max(2, profile.num_classes)
    if y.min() < 0 or y.max() >= k:
        raise DataError(f"{where}: labels range {int(y.min())}..{int(y.max())}, the model has {k} classes (0..{k - 1})",
                        fix="map labels to 0..K-1, or pick a profile/--classes with more classes")
    if len(np.unique(y)) < 2:
        raise DataError(f"{where}: all samples are class {int(y[0])}", fix="give samples of at least two classes")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != len(X) or groups.dtype.kind not in "iu":
            raise DataError(f"{where}: groups must be integer ids, one per sample", fix="save groups as int array (N,)")
        groups = groups.astype(np.int64)
    return X.astype(np.float32, copy=False), y, groups, None


def check_npz(p: Path) -> None:
    """Before numpy allocates: see ``eegdeploy.limits.check_npz``."""
    from eegdeploy.limits import check_npz as check

    check(p, f"data file {str(p)!r}")


def load_npz(path: str | Path, profile: Profile) -> Arrays:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {str(p)!r} does not exist", fix="check the --data path")
    check_npz(p)
    try:
        with np.load(p, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"X", "y"} <= keys:
                raise DataError(f"{str(p)!r} has arrays {sorted(keys)}, needs 'X' and 'y'",
                                fix="save with np.savez(path, X=..., y=..., groups=...)")
            X, y = f["X"], f["y"]
            groups = f["groups"] if "groups" in keys else None
            trials = f["trials"] if "trials" in keys else None
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, TypeError) as err:
        raise DataError(f"cannot read {str(p)!r} as .npz ({type(err).__name__})",
                        fix="save it with numpy.savez (object arrays are refused)") from None
    X, y, groups, _ = validate_arrays(X, y, groups, profile, str(p))
    if trials is not None:
        trials = np.asarray(trials)
        if trials.ndim != 1 or len(trials) != len(X) or trials.dtype.kind not in "iu":
            raise DataError(f"{str(p)}: trials must be integer ids, one per sample", fix="save trials as int array (N,)")
        trials = trials.astype(np.int64)
    return X, y, groups, trials
