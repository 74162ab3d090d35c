"""eegdeploy.prune.cache: the key names everything a pruning depends on; entries are whole or absent."""

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.data.types import Split, Splits
from eegdeploy.prune import cache
from eegdeploy.prune.plan import PrunePlan


def _splits(seed=0):
    rng = np.random.default_rng(seed)
    part = lambda n: Split(rng.standard_normal((n, 3)).astype(np.float32), np.arange(n) % 2)  # noqa: E731
    return Splits(part(8), part(4), part(4), source="t")


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_key_changes_with_weights_data_and_options_only():
    m, s, opts = _model(), _splits(), {"prune": "sfp 0.5", "seed": 0}
    k = cache.prune_key(m, s, opts)
    assert k == cache.prune_key(_model(), _splits(), dict(opts))  # same inputs, rebuilt: same key
    assert k != cache.prune_key(_model(1), s, opts)
    assert k != cache.prune_key(m, _splits(1), opts)
    assert k != cache.prune_key(m, s, {**opts, "seed": 1})
    s2 = _splits()
    s2.test.X[:] = 0  # the test split plays no part in pruning
    assert k == cache.prune_key(m, s2, opts)


def test_save_then_load_round_trips_and_bad_entries_are_misses(tmp_path):
    m = _model()
    plan = PrunePlan(method="sfp", ratio=0.5, keep={"0": [1, 3]}, sizes={"0": 4})
    assert cache.load(tmp_path, "k", m) is None
    trained = _model(5)
    cache.save(tmp_path, "k", plan, trained)
    got = cache.load(tmp_path, "k", m)
    assert got is not None and got[0].keep == {"0": [1, 3]}
    for a, b in zip(got[1].state_dict().values(), trained.state_dict().values()):
        assert torch.equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]  # no staging folder left
    other = nn.Sequential(nn.Linear(3, 5))  # weights that do not fit: a miss, not an error
    assert cache.load(tmp_path, "k", other) is None
    (tmp_path / "k" / "weights.pt").write_bytes(b"not a torch file")
    assert cache.load(tmp_path, "k", m) is None
