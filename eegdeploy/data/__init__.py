"""Data: seeded synthetic EEG, .npz files and DEAP, split into train/validation/test.

    splits = load_data(None, load_profile("ccnn-deap"), seed=0)          # synthetic (the easy task)
    splits = load_data("synthetic:realistic:subjects=8", profile, seed=0, split="trial")  # simulated DEAP
    splits = load_data("my.npz", profile, seed=0, split="subject")      # X, y, groups
    splits = load_data("deap:/data/deap/data_preprocessed_python", profile, seed=0)
"""

from __future__ import annotations

import numpy as np

from eegdeploy.config import Profile
from eegdeploy.data.deap import load_deap
from eegdeploy.data.electrodes import (DEAP_CHANNELS, DEAP_GRID, GRIDS, REGIONS, channel_mask, grid_mask,
                                       region_electrodes)
from eegdeploy.data.npz import load_npz, validate_arrays
from eegdeploy.data.splits import SPLITS, kfold, per_subject, split_arrays
from eegdeploy.data.realistic import RealisticConfig, load_realistic, parse_realistic, simulate_subject
from eegdeploy.data.synthetic import make_synthetic
from eegdeploy.data.types import Split, Splits

__all__ = [
    "DATA_SOURCES",
    "DEAP_CHANNELS", "DEAP_GRID", "GRIDS", "REGIONS", "SPLITS", "RealisticConfig", "Split", "Splits",
    "channel_mask", "grid_mask", "kfold", "load_arrays", "load_data", "load_deap", "load_npz", "load_realistic",
    "make_synthetic", "parse_realistic", "per_subject", "region_electrodes", "simulate_subject", "split_arrays",
    "validate_arrays",
]


# What --data accepts (the help text and the error for an unknown source are built from this list).
DATA_SOURCES: dict[str, str] = {
    "FILE.npz": "arrays X, y and optional groups/trials",
    "deap:FOLDER": "DEAP's preprocessed Python files, read without running code from them",
    "torcheeg-deap:FOLDER": "DEAP through torcheeg's DEAPDataset",
    "synthetic": "the profile's seeded synthetic EEG (the default; also synthetic:easy)",
    "synthetic:realistic[:subjects=N,...]": "synthetic EEG with subject and session effects",
}


def load_arrays(source: str | None, profile: Profile, *, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """X, y, groups, trials and a source label, before splitting."""
    if source is None or source in ("synthetic", "synthetic:easy"):
        X, y, g, t = make_synthetic(profile, seed=seed)
        return X, y, g, t, f"synthetic:{profile.name} (seed {seed})"
    if source == "synthetic:realistic" or source.startswith("synthetic:realistic:"):
        cfg = parse_realistic(source[len("synthetic:realistic:"):] if source != "synthetic:realistic" else "")
        X, y, g, t = load_realistic(profile, cfg, seed=seed)
        return X, y, g, t, f"{source} (seed {seed})"
    if source.startswith("deap:"):
        folder = source[len("deap:"):]
        X, y, g, t = load_deap(folder, profile)
        X, y, g, _ = validate_arrays(X, y, g, profile, source)
        return X, y, g, t, source
    if source.startswith("torcheeg-deap:"):
        from eegdeploy.data.torcheeg_deap import load_torcheeg_deap

        X, y, g, t = load_torcheeg_deap(source[len("torcheeg-deap:"):], profile)
        X, y, g, _ = validate_arrays(X, y, g, profile, source)
        return X, y, g, t, source
    if source.endswith(".npz"):
        X, y, g, t = load_npz(source, profile)
        return X, y, g, t, f"npz:{source}"
    from eegdeploy.errors import DataError

    raise DataError(f"cannot tell what data {source!r} is",
                    fix="give one of " + ", ".join(DATA_SOURCES) + ", or omit --data for the profile's synthetic EEG")


def load_data(source: str | None, profile: Profile, *, seed: int, val: float = 0.15, test: float = 0.15,
              split: str = "random") -> Splits:
    """Load and split data for a profile; same seed, same splits."""
    X, y, g, t, label = load_arrays(source, profile, seed=seed)
    return split_arrays(X, y, g, t, seed=seed, val=val, test=test, split=split, source=label)
