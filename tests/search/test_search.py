import numpy as np
import pytest
import torch

from eegdeploy.bench import count
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.prune import PrunePlan, slim
from eegdeploy.search import SearchConfig, dominates, pareto_front, search
from eegdeploy.search.core import recalibrate_bn
from eegdeploy.search.report import write_search
from eegdeploy.recover import evaluate


def _model():
    import torch.nn as nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, (1, 5), padding=(0, 2)), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 12, (3, 1)), nn.BatchNorm2d(12), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 4)),
                         nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 2)).eval()


def _splits():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1, 3, 16)).astype(np.float32)
    y = (X[:, 0, 0, :4].mean(axis=1) > 0).astype(np.int64)
    return split_arrays(X, y, None, None, seed=0, val=0.25, test=0.25)


@pytest.fixture(scope="module")
def result():
    return search(_model(), _splits(), torch.zeros(1, 1, 3, 16),
                  SearchConfig(population=6, generations=2, max_macs=0.6, seed=0))


def test_front_is_not_dominated_and_respects_the_constraint(result):
    assert result.front
    feasible = [c for c in result.candidates if c.feasible]

    def beaten(f):  # dominance written out on the raw figures: as accurate and as cheap, strictly better in one
        return any(c.accuracy >= f.accuracy and c.macs <= f.macs and (c.accuracy > f.accuracy or c.macs < f.macs)
                   for c in feasible)

    for f in result.front:
        assert f.feasible and f.macs_fraction <= 0.6 + 1e-9
        assert not beaten(f)
    assert result.chosen in result.front
    # every feasible point nobody beats is on the front (as its accuracy and MACs)
    assert {(c.accuracy, c.macs) for c in feasible if not beaten(c)} == {(f.accuracy, f.macs) for f in result.front}
    assert pareto_front(result.candidates, "macs") == result.front
    assert dominates((-0.9, 10.0), (-0.8, 10.0)) and not dominates((-0.9, 10.0), (-0.9, 10.0))


def test_front_points_recompute_from_their_plans(result):
    model, splits, x = _model(), _splits(), torch.zeros(1, 1, 3, 16)
    for f in result.front:
        small = slim(model, PrunePlan.from_dict(f.plan), x, verify=False)
        c = count(small, x, cross_check=False)
        assert (c.macs, c.params) == (f.macs, f.params)
        recalibrate_bn(small, splits.train.X)
        assert evaluate(small, splits.val) == pytest.approx(f.accuracy)


def test_outputs_written(result, tmp_path):
    write_search(result, tmp_path, "eegdeploy search m.pt")
    for name in ("candidates.json", "front.md", "front.png", "plan.json"):
        assert (tmp_path / name).is_file()
    assert PrunePlan.from_dict(__import__("json").loads((tmp_path / "plan.json").read_text())).keep
    assert "uniform-lfp-0.5" in (tmp_path / "front.md").read_text()


def test_latency_objective_uses_the_lut_and_checks_it():
    res = search(_model(), _splits(), torch.zeros(1, 1, 3, 16),
                 SearchConfig(objective="latency", population=4, generations=1, seed=0, lut_batch=4))
    assert all(c.latency_ms is not None and c.latency_ms > 0 for c in res.candidates)
    assert res.lut_check and all(r["measured_ms"] > 0 for r in res.lut_check)


def test_impossible_constraint_is_a_clear_error():
    with pytest.raises(ConfigError, match="no evaluated candidate"):
        search(_model(), _splits(), torch.zeros(1, 1, 3, 16),
               SearchConfig(population=4, generations=1, max_macs=0.001))
