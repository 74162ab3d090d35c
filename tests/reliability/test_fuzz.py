"""Random bytes and random structures through the loaders: always eegdeploy's own error, never a crash."""

import io
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from eegdeploy.config import load_profile
from eegdeploy.data import load_npz
from eegdeploy.errors import EegDeployError
from eegdeploy.models import load_model

SETTINGS = settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
PROFILE = load_profile("eegnet-deap")

leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8),
                   st.builds(lambda n: torch.zeros(n), st.integers(0, 3)))
structures = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                          max_leaves=12)


def _expect_own_error(fn):
    try:
        fn()
    except EegDeployError:
        return
    except Exception as err:  # pragma: no cover - the failure we are looking for
        pytest.fail(f"{type(err).__name__}: {err}")


@SETTINGS
@given(data=st.binary(max_size=512))
def test_checkpoint_random_bytes(tmp_path, data):
    p = tmp_path / "x.pt"
    p.write_bytes(data)
    _expect_own_error(lambda: load_model(p, profile="eegnet-deap"))


@SETTINGS
@given(obj=structures)
def test_checkpoint_random_structures(tmp_path, obj):
    p = tmp_path / "s.pt"
    torch.save(obj, p)
    _expect_own_error(lambda: load_model(p, profile="eegnet-deap"))


@SETTINGS
@given(obj=st.dictionaries(st.sampled_from(["format", "arch", "arch_kwargs", "state_dict", "input", "class_names",
                                            "modules", "graph", "meta", "version"]), structures, max_size=6),
       fmt=st.sampled_from(["eegdeploy-checkpoint", "eegdeploy-portable", None]))
def test_checkpoint_shaped_structures(tmp_path, obj, fmt):
    if fmt:
        obj["format"] = fmt
    p = tmp_path / "c.pt"
    torch.save(obj, p)
    _expect_own_error(lambda: load_model(p, profile="eegnet-deap"))


@SETTINGS
@given(text=st.text(max_size=300))
def test_profile_random_toml(tmp_path, text):
    from eegdeploy.config import load_profile as lp

    p = tmp_path / "p.toml"
    p.write_text(text, encoding="utf-8")
    _expect_own_error(lambda: lp(str(p)))


arrays = st.one_of(
    st.builds(lambda s, d: np.zeros(s, dtype=d), st.lists(st.integers(0, 4), max_size=4).map(tuple),
              st.sampled_from([np.float32, np.int64, np.uint8, np.bool_, np.complex64])),
    st.builds(lambda n: np.array(["a"] * n), st.integers(0, 3)))


@SETTINGS
@given(content=st.dictionaries(st.sampled_from(["X", "y", "groups", "trials", "other"]), arrays, max_size=4))
def test_npz_random_arrays(tmp_path, content):
    p = tmp_path / "d.npz"
    np.savez(p, **content)
    _expect_own_error(lambda: load_npz(p, PROFILE))


@SETTINGS
@given(data=st.binary(max_size=400))
def test_npz_random_bytes(tmp_path, data):
    p = tmp_path / "b.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("X.npy", data)
    p.write_bytes(buf.getvalue() if data[:1] == b"Z" else data)
    _expect_own_error(lambda: load_npz(p, PROFILE))
