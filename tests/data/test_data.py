import pickle

import numpy as np
import pytest

from eegdeploy.config import load_profile
from eegdeploy.data import (kfold, load_data, load_npz, make_synthetic, region_electrodes, split_arrays)
from eegdeploy.data.electrodes import DEAP_GRID, grid_mask
from eegdeploy.errors import ConfigError, DataError

PROFILES = ["ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"]


@pytest.mark.parametrize("name", PROFILES)
def test_synthetic_shapes_and_determinism(name):
    prof = load_profile(name)
    X, y, g, t = make_synthetic(prof, seed=3, n_samples=40)
    assert X.shape == (40, *prof.input.shape) and X.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert np.isfinite(X).all()
    X2, y2, _, _ = make_synthetic(prof, seed=3, n_samples=40)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _, _, _ = make_synthetic(prof, seed=4, n_samples=40)
    assert not np.array_equal(X, X3)


def test_grid_features_only_on_electrode_cells():
    X, *_ = make_synthetic(load_profile("ccnn-deap"), seed=0, n_samples=30)
    empty = ~grid_mask(DEAP_GRID)
    assert np.all(X[:, :, empty] == 0) and np.all(X[:, :, ~empty].std(axis=0) > 0)


def test_random_split_is_stratified_and_seeded():
    s = load_data(None, load_profile("ccnn-deap"), seed=1)
    assert s.sizes() == {"n_train": 700, "n_val": 150, "n_test": 150}
    assert abs(s.test.y.mean() - 0.5) < 0.05
    s2 = load_data(None, load_profile("ccnn-deap"), seed=1)
    assert np.array_equal(s.test.X, s2.test.X)


def test_subject_split_has_no_leakage():
    s = load_data(None, load_profile("ccnn-deap"), seed=0, split="subject")
    tr, va, te = (set(np.unique(x.groups)) for x in (s.train, s.val, s.test))
    assert tr and va and te and not (tr & te) and not (tr & va) and not (va & te)


def test_kfold_covers_every_sample_once_in_test():
    X = np.zeros((50, 2), np.float32); y = np.arange(50) % 2
    folds = list(kfold(X, y, None, None, k=5, seed=0))
    assert len(folds) == 5
    assert sum(len(f.test) for f in folds) == 50


def _npz(tmp_path, **arrays):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return p


def test_npz_round_trip_accepts_missing_plane_axis(tmp_path):
    prof = load_profile("eegnet-deap")
    X = np.random.default_rng(0).standard_normal((20, 32, 128)).astype(np.float32)
    y = np.arange(20) % 2
    X2, y2, g, t = load_npz(_npz(tmp_path, X=X, y=y, groups=np.arange(20) // 5), prof)
    assert X2.shape == (20, 1, 32, 128) and g is not None and t is None


@pytest.mark.parametrize("arrays, message", [
    (dict(X=np.zeros((10, 3, 9, 9)), y=np.arange(10) % 2), "shape (3, 9, 9)"),
    (dict(X=np.full((10, 4, 9, 9), np.nan), y=np.arange(10) % 2), "NaN or Inf"),
    (dict(X=np.zeros((10, 4, 9, 9)), y=np.arange(10) % 3), "labels range 0..2"),
    (dict(X=np.zeros((10, 4, 9, 9)), y=np.zeros(10, int)), "all samples are class 0"),
    (dict(X=np.zeros((0, 4, 9, 9)), y=np.zeros(0, int)), "empty"),
    (dict(X=np.zeros((10, 4, 9, 9))), "needs 'X' and 'y'"),
], ids=["shape", "nan", "labels", "one-class", "empty", "keys"])
def test_npz_bad_input(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_npz(_npz(tmp_path, **arrays), load_profile("ccnn-deap"))


def test_npz_missing_and_garbage(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_npz(tmp_path / "nope.npz", load_profile("ccnn-deap"))
    bad = tmp_path / "bad.npz"; bad.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_npz(bad, load_profile("ccnn-deap"))


def _deap_folder(tmp_path, n_subjects=2, trials=4, seconds=8):
    rng = np.random.default_rng(0)
    for s in range(1, n_subjects + 1):
        data = rng.standard_normal((trials, 40, 128 * (3 + seconds))).astype(np.float32)
        labels = np.tile(np.array([[2.0, 5, 5, 5], [8.0, 5, 5, 5]]), (trials // 2, 1))
        with open(tmp_path / f"s{s:02d}.dat", "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f, protocol=2)
    return tmp_path


@pytest.mark.parametrize("name, per_trial", [("ccnn-deap", 8), ("tsception-deap", 2), ("eegnet-deap", 8)])
def test_deap_files_in_the_real_format(tmp_path, name, per_trial):
    prof = load_profile(name)
    s = load_data(f"deap:{_deap_folder(tmp_path)}", prof, seed=0, val=0.25, test=0.25)
    n = sum(s.sizes().values())
    assert n == 2 * 4 * per_trial
    assert s.train.X.shape[1:] == tuple(prof.input.shape)
    assert set(np.unique(np.concatenate([s.train.groups, s.test.groups]))) <= {1, 2}


def test_deap_time_grid_cells_hold_each_electrodes_z_scored_samples(tmp_path):
    """vit-deap's time x 9 x 9 input from DEAP files: Fz's cell (row 2, column 4) holds Fz's samples after the 3 s
    baseline, z-scored over the trial, cut into 1 s windows; the cells beside it (no electrode) stay zero."""
    folder = _deap_folder(tmp_path, n_subjects=1, trials=2, seconds=4)
    with open(folder / "s01.dat", "rb") as f:
        data = pickle.load(f)["data"].astype(np.float64)
    from eegdeploy.data import load_deap

    X, y, g, t = load_deap(folder, load_profile("vit-deap"))
    assert X.shape == (8, 128, 9, 9)
    fz = data[:, 18, 3 * 128:]  # DEAP's channel 19 is Fz
    z = (fz - fz.mean(axis=1, keepdims=True)) / fz.std(axis=1, keepdims=True)
    assert np.allclose(X[:, :, 2, 4], z.reshape(8, 128), atol=1e-5)
    assert np.all(X[:, :, 2, 3] == 0) and np.all(X[:, :, 2, 5] == 0)
    assert list(y) == [0] * 4 + [1] * 4 and list(t) == [1000] * 4 + [1001] * 4


def test_deap_refuses_code_in_pickles(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(tmp_path / "s01.dat", "wb") as f:
        pickle.dump({"data": Evil(), "labels": np.zeros((1, 4))}, f)
    with pytest.raises(DataError, match="not a DEAP preprocessed file"):
        load_data(f"deap:{tmp_path}", load_profile("ccnn-deap"), seed=0)
    assert not marker.exists()


def test_regions():
    assert region_electrodes("prefrontal") == ["Fp1", "AF3", "Fp2", "AF4"]
    assert "F3" in region_electrodes("frontal-left") and "F4" not in region_electrodes("frontal-left")
    assert region_electrodes("Fp1,Fz") == ["Fp1", "Fz"]
    with pytest.raises(ConfigError, match="prefrontal"):
        region_electrodes("forehead")
    with pytest.raises(ConfigError, match="maps to no electrode"):
        region_electrodes("occipital", ["Fp1", "Fp2"])


def test_split_errors():
    X = np.zeros((4, 2), np.float32); y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="needs subject"):
        split_arrays(X, y, None, None, seed=0, split="subject")
    with pytest.raises(ConfigError):
        split_arrays(X, y, None, None, seed=0, split="sideways")


@pytest.mark.slow
@pytest.mark.parametrize("name, per_trial", [("ccnn-deap", 8), ("eegnet-deap", 8)])
def test_deap_through_torcheeg_matches_the_layout(tmp_path, name, per_trial):
    prof = load_profile(name)
    folder = _deap_folder(tmp_path)
    s = load_data(f"torcheeg-deap:{folder}", prof, seed=0, val=0.25, test=0.25)
    assert sum(s.sizes().values()) == 2 * 4 * per_trial
    assert s.train.X.shape[1:] == tuple(prof.input.shape)
    ours = load_data(f"deap:{folder}", prof, seed=0, val=0.25, test=0.25)
    assert np.array_equal(np.sort(np.concatenate([s.train.y, s.val.y, s.test.y])),
                          np.sort(np.concatenate([ours.train.y, ours.val.y, ours.test.y])))
