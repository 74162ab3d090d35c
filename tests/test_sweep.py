"""Sweeps: the grid through compress on tiny synthetic TSCeption data, resume, skipped and failed cells, k-fold."""

import json
from pathlib import Path

import numpy as np
import pytest

from eegdeploy.config import load_profile
from eegdeploy.errors import ConfigError, ParityError
from eegdeploy.models import bundle_from_profile, save_checkpoint
from eegdeploy.sweep import SweepConfig, aggregate, make_cells, sweep

ROOT = Path(__file__).resolve().parents[1]


def tiny_profile(tmp_path: Path, n_samples: int = 64) -> Path:
    """tsception-deap with a 64-sample synthetic data set (the profile's own generator, seeded)."""
    text = (ROOT / "profiles" / "tsception-deap.toml").read_text()
    text = text.replace("n_samples = 800", f"n_samples = {n_samples}")
    assert f"n_samples = {n_samples}" in text
    path = tmp_path / "tiny-tsception.toml"
    path.write_text(text)
    return path


def _spec(tmp_path, **kw):
    prof_path = tiny_profile(tmp_path)
    ckpt = save_checkpoint(bundle_from_profile(load_profile(str(prof_path)), seed=0), tmp_path / "m.pt")
    spec = {"checkpoint": str(ckpt), "profile": str(prof_path), "data": None, "seed": 0, "epochs": 1,
            "split": "holdout", "folds": 1, "iters": 2, "batches": [2], "out": str(tmp_path / "sw"), "threads": 1}
    return {**spec, **kw}


@pytest.fixture
def spec(tmp_path):
    return _spec(tmp_path)


@pytest.fixture
def npz_spec(tmp_path):
    prof = load_profile("tsception-deap")
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), tmp_path / "m.pt")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, *prof.input.shape)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 2, groups=np.arange(40) // 8)
    return {"checkpoint": str(ckpt), "profile": "tsception-deap", "data": str(tmp_path / "d.npz"), "seed": 0,
            "epochs": 1, "split": "holdout", "folds": 1, "iters": 2, "batches": [2], "out": str(tmp_path / "sw"),
            "threads": 1}


@pytest.mark.slow
def test_full_grid_on_tiny_synthetic_tsception_finishes_and_resumes(spec, monkeypatch):
    cfg = SweepConfig(methods=("lfp", "sfp", "nsfp", "uwmp"), ratios=(0.5,), recovers=("finetune", "scratch"),
                      iters=2, batches=(2,))
    events = []
    table = sweep(spec, cfg, on_cell=lambda kind, cell, n, total: events.append((kind, cell.id, n, total)))
    out = Path(spec["out"])
    assert len(table["rows"]) == 8 and table["skipped"] == {} and table["failed"] == {}
    assert events[0] == ("start", "lfp-r0.5-finetune-f0", 0, 8) and events[-1][0::2] == ("done", 8)
    for row in table["rows"]:
        report = json.loads((out / "cells" / f"{row['method']}-r0.5-{row['recover']}-f0" / "report.json").read_text())
        assert report["recipe"]["method"] == row["method"] and report["recipe"]["recover"] == row["recover"]
        assert 0 <= row["accuracy"] <= 1 and row["latency_key"] == "ort-cpu-2" and row["slim_p50_ms"] > 0
        if row["method"] == "uwmp":
            assert row["params_reduction"] > 0.2 and row["macs_reduction"] < 0.5  # non-zero params; dense MACs
        else:
            assert row["macs_reduction"] > 0.2 and row["params_reduction"] > 0.2

    def first_loss(method, recover):
        rep = json.loads((out / "cells" / f"{method}-r0.5-{recover}-f0" / "report.json").read_text())
        return rep["extras"]["training"]["recovery"]["history"][0]["loss"]

    assert first_loss("lfp", "finetune") != first_loss("lfp", "scratch")  # different starting weights

    md = (out / "sweep.md").read_text()
    for method in ("lfp", "sfp", "nsfp", "uwmp"):
        for recover in ("finetune", "scratch"):
            assert f"| {method} | 0.5 | {recover} | 1 |" in md
    for png in ("sweep-accuracy-macs.png", "sweep-accuracy-latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / png).stat().st_size > 1000
    assert len(json.loads((out / "sweep.json").read_text())["cells"]) == 8

    import eegdeploy.sweep as sw

    calls = []
    monkeypatch.setattr(sw, "run_cell", lambda spec, cell: calls.append(cell) or {"cell": cell, "skipped": "x"})
    lines = []
    again = sweep(spec, cfg, progress=lines.append)
    assert calls == [] and again == table  # the second run does no work
    assert lines[0] == "8 cells, 8 already finished, 0 to run (local)"


@pytest.mark.slow
def test_a_cell_that_does_not_apply_is_skipped_with_the_reason_and_not_retried(npz_spec, monkeypatch):
    spec = {**npz_spec, "epochs": 0}  # sfp trains while it prunes: without epochs it cannot run
    cfg = SweepConfig(methods=("lfp", "sfp"), ratios=(0.5,), recovers=("finetune",), iters=2, batches=(2,))
    table = sweep(spec, cfg)
    assert [r["method"] for r in table["rows"]] == ["lfp"]
    assert "at least one epoch" in table["skipped"]["sfp-r0.5-finetune-f0"]
    md = (Path(spec["out"]) / "sweep.md").read_text()
    assert "Skipped cells" in md and "`sfp-r0.5-finetune-f0`" in md

    import eegdeploy.sweep as sw

    calls = []
    monkeypatch.setattr(sw, "run_cell", lambda spec, cell: calls.append(cell))
    sweep(spec, cfg)
    assert calls == []


@pytest.mark.slow
def test_a_failed_cell_is_recorded_apart_and_retried_by_the_next_run(npz_spec, monkeypatch):
    import eegdeploy.pipeline as pipeline

    real = pipeline.compress

    def broken(bundle, splits, config, out_dir, **kw):
        if config.method == "uwmp":
            raise ParityError("the slim model differs from the masked model by 0.1", fix="report this")
        return real(bundle, splits, config, out_dir, **kw)

    cfg = SweepConfig(methods=("lfp", "uwmp"), ratios=(0.5,), recovers=("none",), iters=2, batches=(2,))
    monkeypatch.setattr(pipeline, "compress", broken)
    table = sweep(npz_spec, cfg)
    assert [r["method"] for r in table["rows"]] == ["lfp"] and table["skipped"] == {}
    assert "differs" in table["failed"]["uwmp-r0.5-none-f0"]
    assert "Failed cells" in (Path(npz_spec["out"]) / "sweep.md").read_text()

    monkeypatch.setattr(pipeline, "compress", real)
    lines = []
    table = sweep(npz_spec, cfg, progress=lines.append)
    assert lines[0] == "2 cells, 1 already finished, 1 to run (local), 1 of them failed before"
    assert [r["method"] for r in table["rows"]] == ["lfp", "uwmp"] and table["failed"] == {}


@pytest.mark.slow
def test_sweep_kfold_aggregates_mean_and_std(npz_spec):
    spec = {**npz_spec, "split": "kfold", "folds": 2}
    cfg = SweepConfig(methods=("lfp",), ratios=(0.5,), recovers=("none",), split="kfold", folds=2, iters=2,
                      batches=(2,))
    (row,) = sweep(spec, cfg)["rows"]
    cells = json.loads((Path(spec["out"]) / "sweep.json").read_text())["cells"]
    accs = [c["summary"]["accuracy"] for c in cells.values()]
    assert row["n"] == 2 and row["accuracy"] == pytest.approx(np.mean(accs))
    assert row["accuracy_std"] == pytest.approx(np.std(accs, ddof=1))


@pytest.mark.slow
def test_sweep_rejects_a_state_file_from_other_settings(npz_spec):
    cfg = SweepConfig(methods=("lfp",), ratios=(0.5,), recovers=("none",), iters=2, batches=(2,))
    sweep(npz_spec, cfg)
    with pytest.raises(ConfigError, match=r"other settings \(seed: 0 there, 1 here\)"):
        sweep({**npz_spec, "seed": 1}, cfg)


def test_cells_and_config_validation():
    assert len(make_cells(SweepConfig(methods=("lfp", "sfp"), ratios=(0.1, 0.5), recovers=("finetune", "scratch")))) == 8
    assert len(make_cells(SweepConfig(methods=("lfp",), ratios=(0.5,), split="kfold", folds=3))) == 3
    with pytest.raises(ConfigError, match="magic"):
        SweepConfig(methods=("magic",))
    with pytest.raises(ConfigError, match="folds"):
        SweepConfig(split="kfold", folds=1)
    with pytest.raises(ConfigError, match="recovery"):
        SweepConfig(recovers=("retrain",))


def test_aggregate_keeps_skipped_and_failed_cells_apart():
    cell = {"method": "nsfp", "ratio": 0.5, "recover": "finetune", "fold": 0}
    cells = {"nsfp-r0.5-finetune-f0": {"cell": cell, "skipped": "no BatchNorm"},
             "nsfp-r0.5-scratch-f0": {"cell": {**cell, "recover": "scratch"}, "failed": "boom"}}
    assert aggregate(cells) == {"rows": [], "skipped": {"nsfp-r0.5-finetune-f0": "no BatchNorm"},
                                "failed": {"nsfp-r0.5-scratch-f0": "boom"}}


@pytest.mark.slow
def test_method_options_reach_their_cells_and_are_part_of_the_settings(npz_spec):
    spec = {**npz_spec, "method_options": {"lfp": {"scope": "global"}}}
    cfg = SweepConfig(methods=("lfp", "uwmp"), ratios=(0.5,), recovers=("none",), iters=2, batches=(2,))
    sweep(spec, cfg)
    out = Path(spec["out"])
    recipe = lambda m: json.loads((out / "cells" / f"{m}-r0.5-none-f0" / "report.json").read_text())["recipe"]  # noqa: E731
    # the recipe records every option, defaults included: no per-dimension ratio given, depth off
    defaults = {"include_linear": False, "ratio_heads": None, "ratio_mlp": None, "ratio_embed": None,
                "ratio_depth": 0.0}
    assert recipe("lfp")["options"] == {**defaults, "scope": "global"}
    assert recipe("uwmp")["options"] == defaults
    assert "method options lfp: scope=global" in (out / "sweep.md").read_text()
    with pytest.raises(ConfigError, match="method_options"):
        sweep({**spec, "method_options": {}}, cfg)


@pytest.mark.slow
def test_recovery_modes_share_one_pruning_and_parallel_cells_match_serial(npz_spec, tmp_path):
    """sfp trains to make its plan: the scratch cell reuses the finetune cell's pruning (same plan, its note says
    so), and the same grid run in 2 processes gives the same accuracies and plans as the serial run."""
    cfg = SweepConfig(methods=("sfp",), ratios=(0.5,), recovers=("finetune", "scratch"), iters=2, batches=(2,))
    sweep(npz_spec, cfg)
    cells = Path(npz_spec["out"]) / "cells"
    first = json.loads((cells / "sfp-r0.5-finetune-f0" / "report.json").read_text())
    second = json.loads((cells / "sfp-r0.5-scratch-f0" / "report.json").read_text())
    assert first["extras"]["plan"]["keep"] == second["extras"]["plan"]["keep"]
    assert not any("reused" in n for n in first["extras"]["plan"]["notes"])
    assert any("pruning reused" in n for n in second["extras"]["plan"]["notes"])
    assert len(list((Path(npz_spec["out"]) / "prune-cache").iterdir())) == 1  # one entry, no staging left

    par = {**npz_spec, "out": str(tmp_path / "par")}
    from dataclasses import replace

    table = sweep(par, replace(cfg, jobs=2))
    serial = json.loads((Path(npz_spec["out"]) / "sweep.json").read_text())["cells"]
    parallel = json.loads((Path(par["out"]) / "sweep.json").read_text())["cells"]
    assert set(serial) == set(parallel) == {"sfp-r0.5-finetune-f0", "sfp-r0.5-scratch-f0"}
    for cid in serial:
        assert parallel[cid]["summary"]["accuracy"] == serial[cid]["summary"]["accuracy"]
        assert parallel[cid]["summary"]["params"] == serial[cid]["summary"]["params"]
    assert len(table["rows"]) == 2


def test_sweep_jobs_is_validated():
    with pytest.raises(ConfigError, match="jobs"):
        SweepConfig(jobs=0)


def test_structured_ratios_reach_the_structured_methods_of_a_sweep_only():
    """--ratio-depth / --ratio-heads in a sweep with uwmp: the structured methods' cells take them, uwmp's do not
    (before, uwmp's config refused them and the whole sweep failed); uwmp alone still says why it cannot."""
    from eegdeploy.prune.methods import options_from_flags

    opts = options_from_flags({"ratio_depth": 0.5, "ratio_heads": 0.25}, ("lfp", "uwmp", "nsfp"))
    assert opts == {"lfp": {"ratio_depth": 0.5, "ratio_heads": 0.25}, "nsfp": {"ratio_depth": 0.5, "ratio_heads": 0.25}}
    with pytest.raises(ConfigError, match="need a structured method"):
        options_from_flags({"ratio_depth": 0.5}, ("uwmp",))


def _cell_sleeping_above_half(cell):
    """A cell function for spawned workers (module level, pickled by reference): ratios above 0.5 take minutes."""
    import time

    if cell["ratio"] > 0.5:
        time.sleep(300)
    return {"cell": cell, "skipped": "test"}


@pytest.mark.slow
def test_parallel_local_cells_stop_at_once_and_leave_no_worker():
    """An interrupt while cells run in parallel (here raised by the first result's callback) stops the sweep without
    waiting for the running and queued cells, and terminates the workers: no process outlives run_cells."""
    import multiprocessing

    from eegdeploy.sweep import Cell, run_cells

    cells = [Cell("lfp", 0.5, "finetune"), Cell("lfp", 0.9, "finetune"), Cell("lfp", 0.8, "finetune")]
    seen = []

    def on_done(cell, result):
        seen.append(cell.id)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cells(cells, _cell_sleeping_above_half, backend="local", on_done=on_done, jobs=2)
    assert seen == ["lfp-r0.5-finetune-f0"]
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_run_in_processes_returns_every_result_with_its_index():
    """The pool the sweep's cells and the accuracy benchmark's baselines share: each call's result reaches the
    callback with the call's index; with one job the calls run here (a lambda, not picklable, is fine)."""
    from eegdeploy.sweep import run_in_processes

    got = {}
    run_in_processes(pow, [(2, 3), (3, 2), (5, 1)], 2, got.__setitem__)
    assert got == {0: 8, 1: 9, 2: 5}
    here = {}
    run_in_processes(lambda a, b: a - b, [(5, 1), (9, 2)], 1, here.__setitem__)
    assert here == {0: 4, 1: 7}
