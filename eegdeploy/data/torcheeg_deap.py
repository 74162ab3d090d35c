"""DEAP through torcheeg's own ``DEAPDataset``, for users who already work with torcheeg's pipeline.

``--data torcheeg-deap:<folder>`` builds the same inputs as ``deap:<folder>`` with torcheeg's transforms:
``BandDifferentialEntropy`` + ``ToGrid`` for grid profiles, raw 32-channel chunks (the profile's electrodes
selected) for raw ones; labels ``Select(task)`` + ``Binary(5.0)``. torcheeg caches the processed data (LMDB) in a
temporary folder that is removed afterwards. torcheeg's reader unpickles the .dat files without restriction, so
every file is first read by ``deap``'s arrays-only reader and refused unless it holds only numeric arrays within
the size budget; ``deap:<folder>`` reads the same files without torcheeg at all.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from eegdeploy.config import Profile
from eegdeploy.data.electrodes import DEAP_CHANNELS
from eegdeploy.errors import DataError

TASKS = ("valence", "arousal", "dominance", "liking")


def load_torcheeg_deap(folder: str | Path, profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = Path(folder)
    if not root.is_dir() or not any(root.glob("s*.dat")):
        raise DataError(f"no DEAP sXX.dat files in {str(root)!r}", fix="point torcheeg-deap: at data_preprocessed_python/")
    # torcheeg unpickles each file without restriction: first read every file with eegdeploy's arrays-only reader,
    # which refuses anything but numeric arrays (no code, no memo fan-out, size budget) before torcheeg sees it
    from eegdeploy.data.deap import read_subject

    for f in sorted(root.glob("s*.dat")):
        read_subject(f)
    try:
        from torcheeg import transforms
        from torcheeg.datasets import DEAPDataset
        from torcheeg.datasets.constants import DEAP_CHANNEL_LOCATION_DICT
    except ImportError as err:
        raise DataError(f"torcheeg's datasets cannot be imported ({err})",
                        fix="install eegdeploy[full] (torcheeg with pandas<3), or use --data deap:<folder>") from None
    logging.getLogger("torcheeg").setLevel(logging.WARNING)
    shape = tuple(profile.input.shape)
    grid = tuple(profile.input.layout)[-2:] == ("grid_row", "grid_col")
    task = profile.task if profile.task in TASKS else "valence"
    if grid:
        chunk = int(profile.input.sampling_rate or 128)
        offline = transforms.Compose([transforms.BandDifferentialEntropy(sampling_rate=chunk, apply_to_baseline=False),
                                      transforms.ToGrid(DEAP_CHANNEL_LOCATION_DICT)])
    else:
        chunk = int(shape[-1])
        offline = None
    io = tempfile.mkdtemp(prefix="eegdeploy-torcheeg-")
    try:
        ds = DEAPDataset(root_path=str(root), io_path=str(Path(io) / "cache"), chunk_size=chunk, offline_transform=offline,
                         label_transform=transforms.Compose([transforms.Select(task), transforms.Binary(5.0)]),
                         num_worker=0, verbose=False)
        X = np.stack([np.asarray(ds[i][0], dtype=np.float32) for i in range(len(ds))])
        y = np.array([int(ds[i][1]) for i in range(len(ds))], dtype=np.int64)
        info = ds.info
        subjects = info["subject_id"].astype(str).str.extract(r"(\d+)")[0].astype(int).to_numpy()
        trials = subjects * 1000 + info["trial_id"].astype(str).str.extract(r"(\d+)")[0].astype(int).to_numpy()
    except DataError:
        raise
    except Exception as err:  # torcheeg raises many types on malformed input
        raise DataError(f"torcheeg could not read {str(root)!r} ({type(err).__name__}: {str(err)[:120]})",
                        fix="check the files, or use --data deap:<folder>") from None
    finally:
        shutil.rmtree(io, ignore_errors=True)
    if not grid:
        names = [n.upper() for n in DEAP_CHANNELS]
        idx = [names.index(e.upper()) for e in profile.input.electrodes]
        X = X[:, idx][:, None]
        X = (X - X.mean(axis=-1, keepdims=True)) / (X.std(axis=-1, keepdims=True) + 1e-8)
    return X.astype(np.float32), y, subjects.astype(np.int64), trials.astype(np.int64)
