import json

import numpy as np
import pytest

from eegdeploy.config import load_profile
from eegdeploy.errors import ConfigError
from eegdeploy.models import bundle_from_profile, save_checkpoint
from eegdeploy.sweep import SweepConfig, aggregate, make_cells, sweep


@pytest.fixture
def setup(tmp_path):
    prof = load_profile("tsception-deap")
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), tmp_path / "m.pt")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, *prof.input.shape)).astype(np.float32)
    y = np.arange(40) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y, groups=np.arange(40) // 8)
    spec = {"checkpoint": str(ckpt), "profile": "tsception-deap", "data": str(tmp_path / "d.npz"), "seed": 0,
            "epochs": 1, "split": "holdout", "folds": 1, "iters": 2, "batches": [2], "out": str(tmp_path / "sw"),
            "threads": 1}
    return spec


def test_sweep_writes_table_and_plots_and_resumes(setup, monkeypatch):
    cfg = SweepConfig(methods=("lfp", "uwmp"), ratios=(0.5,), recovers=("finetune",), iters=2, batches=(2,))
    table = sweep(setup, cfg)
    out = setup["out"]
    assert {(r["method"], r["recover"]) for r in table["rows"]} == {("lfp", "finetune"), ("uwmp", "finetune")}
    lfp = next(r for r in table["rows"] if r["method"] == "lfp")
    assert lfp["macs_reduction"] > 0.3 and lfp["speedup"] is not None
    md = open(f"{out}/sweep.md").read()
    assert "| lfp | 0.5 | finetune | 1 |" in md
    import os

    assert os.path.getsize(f"{out}/sweep-accuracy-macs.png") > 1000
    state = json.load(open(f"{out}/sweep.json"))
    assert set(state["cells"]) == {"lfp-r0.5-finetune-f0", "uwmp-r0.5-finetune-f0"}

    import eegdeploy.sweep as sw

    calls = []
    monkeypatch.setattr(sw, "run_cell", lambda spec, cell: calls.append(cell) or {"cell": cell, "skipped": "x"})
    again = sweep(setup, cfg)
    assert calls == [] and again == table  # nothing redone


def test_sweep_kfold_aggregates_mean_and_std(setup):
    setup = {**setup, "split": "kfold", "folds": 2}
    cfg = SweepConfig(methods=("lfp",), ratios=(0.5,), recovers=("none",), split="kfold", folds=2, iters=2,
                      batches=(2,))
    table = sweep(setup, cfg)
    (row,) = table["rows"]
    assert row["n"] == 2 and row["accuracy_std"] >= 0


def test_sweep_rejects_a_state_file_from_other_settings(setup):
    cfg = SweepConfig(methods=("lfp",), ratios=(0.5,), recovers=("none",), iters=2, batches=(2,))
    sweep(setup, cfg)
    with pytest.raises(ConfigError, match="other settings"):
        sweep({**setup, "seed": 1}, cfg)


def test_cells_and_config_validation():
    assert len(make_cells(SweepConfig(methods=("lfp", "sfp"), ratios=(0.1, 0.5), recovers=("finetune", "scratch")))) == 8
    assert len(make_cells(SweepConfig(methods=("lfp",), ratios=(0.5,), split="kfold", folds=3))) == 3
    with pytest.raises(ConfigError):
        SweepConfig(methods=("magic",))
    with pytest.raises(ConfigError):
        SweepConfig(split="kfold", folds=1)


def test_aggregate_keeps_skipped_cells_apart():
    cells = {"nsfp-r0.5-finetune-f0": {"cell": {"method": "nsfp", "ratio": 0.5, "recover": "finetune", "fold": 0},
                                       "skipped": "no BatchNorm"}}
    assert aggregate(cells) == {"rows": [], "skipped": {"nsfp-r0.5-finetune-f0": "no BatchNorm"}, "failed": {}}
