"""DEAP (preprocessed Python format) for the profiles' inputs, read without running pickled code.

DEAP ships one pickle per subject, ``sXX.dat``: a dict with ``data`` float[40 trials, 40 channels, 8064 samples]
(128 Hz, the first 3 s are a pre-trial baseline, channels 0-31 are EEG in DEAP's order) and ``labels``
float[40, 4] (valence, arousal, dominance, liking, rated 1-9). The file is read with an unpickler that only
rebuilds numpy arrays, so a crafted file cannot run code. Features follow the profile's input layout:
- raw ``(1, electrodes, time)``: the profile's electrodes, baseline dropped, non-overlapping windows of ``time``
  samples, z-scored per electrode within each trial;
- grid ``(bands, 9, 9)``: 1 s windows, differential entropy of theta/alpha/beta/gamma band-passed signal
  (0.5·log(2πe·var)), placed on the DEAP 9x9 grid;
- time grid ``(time, 9, 9)`` (STNet, ViT): all 32 electrodes, baseline dropped, non-overlapping windows of ``time``
  samples z-scored per electrode within each trial, each sample placed on the DEAP 9x9 grid (torcheeg's ToGrid).
Labels: the profile's task (valence, arousal, dominance or liking) above 5 is class 1.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from eegdeploy.config import Profile
from eegdeploy.data.electrodes import DEAP_CHANNELS, DEAP_GRID, to_grid
from eegdeploy.data.synthetic import BANDS_HZ
from eegdeploy.errors import DataError
from eegdeploy.limits import MAX_PICKLE_ARRAY_BYTES, over

TASKS = ("valence", "arousal", "dominance", "liking")
BASELINE_S = 3
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"), ("builtins", "object"),
    ("_codecs", "encode"),  # protocol-2 pickles carry array bytes as latin1 text; encode only converts it
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401 - pickle protocol
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def input_kind(profile: Profile) -> str:
    """How a DEAP profile's input is made from raw EEG: ``"band-grid"`` (differential entropy per band on the
    9x9 grid, layout band x grid), ``"time-grid"`` (each raw sample on the 9x9 grid, layout time x grid, as
    torcheeg's ToGrid of a raw window), ``"raw"`` (electrodes x time) or ``""`` (none of these)."""
    layout, shape = tuple(profile.input.layout), tuple(profile.input.shape)
    if layout[-2:] == ("grid_row", "grid_col"):
        if len(shape) != 3 or shape[1:] != (9, 9):
            return ""
        if layout[0] == "time":
            return "time-grid"
        return "band-grid" if layout[0] == "band" and shape[0] <= len(BANDS_HZ) else ""
    return "raw" if len(shape) == 3 and shape[0] == 1 and len(profile.input.electrodes) == shape[1] else ""


def read_subject(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(data [trials, channels, samples], labels [trials, 4]) from one DEAP .dat file."""
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnly(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
        raise DataError(f"{str(path)!r} is not a DEAP preprocessed file ({err})",
                        fix="use DEAP's data_preprocessed_python/sXX.dat files") from None
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        raise DataError(f"{str(path)!r} lacks DEAP's 'data' and 'labels'", fix="use data_preprocessed_python files")
    # only numeric arrays, never lists: np.asarray over a list that references one row thousands of times (a pickle
    # memo fan-out) would copy it thousands of times
    for key in ("data", "labels"):
        v = obj[key]
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "fiu":
            raise DataError(f"{str(path)!r}: {key!r} is a {type(v).__name__}"
                            f"{' of ' + str(v.dtype) if isinstance(v, np.ndarray) else ''}, not a numeric array",
                            fix="use DEAP's data_preprocessed_python files")
    total = obj["data"].nbytes + obj["labels"].nbytes
    if total > MAX_PICKLE_ARRAY_BYTES:
        raise over("the array size (bytes)", total, MAX_PICKLE_ARRAY_BYTES, repr(str(path)),
                   "a DEAP subject file holds about 100 MB")
    data, labels = obj["data"], obj["labels"]
    if data.ndim != 3 or labels.ndim != 2 or labels.shape[0] != data.shape[0] or data.shape[1] < 32:
        raise DataError(f"{str(path)!r}: data {data.shape} / labels {labels.shape} are not DEAP's layout",
                        fix="expected data [trials, 40, samples] and labels [trials, 4]")
    return data.astype(np.float64), labels


def _bandpass(x: np.ndarray, lo: float, hi: float, fs: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [lo, min(hi, fs / 2 - 1)], btype="band", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def subject_features(data: np.ndarray, labels: np.ndarray, profile: Profile, where: str
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y and trial index per window, for one subject."""
    fs = float(profile.input.sampling_rate or 128)
    shape = tuple(profile.input.shape)
    task = profile.task if profile.task in TASKS else "valence"
    eeg = data[:, :32, int(BASELINE_S * fs):]
    y_trial = (labels[:, TASKS.index(task)] > 5).astype(np.int64)
    kind = input_kind(profile)
    Xs, ys, ts = [], [], []
    if kind == "band-grid":
        bands = BANDS_HZ[: shape[0]]
        win = int(fs)
        n_win = eeg.shape[-1] // win
        if n_win == 0:
            raise DataError(f"{where}: trials of {eeg.shape[-1]} samples after the baseline are shorter than 1 s",
                            fix="check the sampling rate and the files")
        filtered = np.stack([_bandpass(eeg, lo, hi, fs) for lo, hi in bands], axis=2)  # trials, ch, bands, time
        w = filtered[..., : n_win * win].reshape(*filtered.shape[:3], n_win, win)
        de = 0.5 * np.log(2 * np.pi * np.e * (w.var(axis=-1) + 1e-12))  # trials, ch, bands, windows
        grid = np.zeros((eeg.shape[0], n_win, len(bands), 9, 9), dtype=np.float32)
        for ch, name in enumerate(DEAP_CHANNELS):
            r, c = DEAP_GRID[name]
            grid[:, :, :, r, c] = np.transpose(de[:, ch], (0, 2, 1))
        for t in range(eeg.shape[0]):
            Xs.append(grid[t]); ys.append(np.full(n_win, y_trial[t])); ts.append(np.full(n_win, t))
    else:
        names = list(DEAP_CHANNELS) if kind == "time-grid" else list(profile.input.electrodes)
        upper = [c.upper() for c in DEAP_CHANNELS]
        missing = [n for n in names if n.upper() not in upper]
        if not kind:
            raise DataError(f"deap: cannot make profile {profile.name!r}'s input (layout {list(profile.input.layout)}, "
                            f"shape {list(shape)})", fix="it makes band x 9 x 9 DE grids, time x 9 x 9 raw grids and "
                                                         "1 x electrodes x time windows; use one of those profiles")
        if missing:
            raise DataError(f"profile {profile.name!r} does not map onto DEAP's electrodes ({missing})",
                            fix="use a DEAP profile (eegdeploy profiles)")
        idx = [upper.index(n.upper()) for n in names]
        T = shape[0] if kind == "time-grid" else shape[-1]
        n_win = eeg.shape[-1] // T
        if n_win == 0:
            raise DataError(f"{where}: trials of {eeg.shape[-1]} samples are shorter than the model's {T}",
                            fix="pick a profile with a shorter window")
        sel = eeg[:, idx]
        sel = (sel - sel.mean(axis=-1, keepdims=True)) / (sel.std(axis=-1, keepdims=True) + 1e-8)
        w = sel[..., : n_win * T].reshape(sel.shape[0], len(idx), n_win, T).transpose(0, 2, 1, 3)
        if kind == "time-grid":  # every electrode's samples on its grid cell: windows x time x 9 x 9
            w = to_grid(w, names, profile.input.grid or "deap")
        else:
            w = w[:, :, None]
        for t in range(eeg.shape[0]):
            Xs.append(w[t].astype(np.float32)); ys.append(np.full(n_win, y_trial[t])); ts.append(np.full(n_win, t))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(ts)


def load_deap(folder: str | Path, profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X, y, subject ids and trial ids for every sXX.dat in ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"DEAP folder {str(root)!r} does not exist", fix="give deap:<folder with s01.dat ...>")
    files = sorted(p for p in root.iterdir() if re.fullmatch(r"s\d+\.dat", p.name))
    if not files:
        raise DataError(f"no sXX.dat files in {str(root)!r}", fix="point deap: at data_preprocessed_python/")
    Xs, ys, gs, ts = [], [], [], []
    for p in files:
        subject = int(re.sub(r"\D", "", p.stem))
        data, labels = read_subject(p)
        X, y, t = subject_features(data, labels, profile, str(p))
        Xs.append(X); ys.append(y); gs.append(np.full(len(y), subject)); ts.append(subject * 1000 + t)
    return (np.concatenate(Xs).astype(np.float32), np.concatenate(ys).astype(np.int64),
            np.concatenate(gs).astype(np.int64), np.concatenate(ts).astype(np.int64))
