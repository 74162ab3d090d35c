"""`eegdeploy sensitivity` and `eegdeploy sweep` end to end in a subprocess, on tiny synthetic TSCeption data."""

import json
from pathlib import Path

import pytest

from eegdeploy.config import load_profile
from eegdeploy.models import bundle_from_profile, save_checkpoint

from .conftest import ROOT


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    text = (ROOT / "profiles" / "tsception-deap.toml").read_text().replace("n_samples = 800", "n_samples = 48")
    prof = d / "tiny.toml"
    prof.write_text(text)
    ckpt = save_checkpoint(bundle_from_profile(load_profile(str(prof)), seed=0), d / "m.pt")
    return Path(ckpt), prof


@pytest.mark.slow
def test_sensitivity_writes_table_plot_and_names_the_most_sensitive(cli, model, tmp_path):
    ckpt, prof = model
    out = tmp_path / "sens"
    r = cli("sensitivity", str(ckpt), "--profile", str(prof), "--ratios", "0.3,0.6", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["ratios"] == [0.3, 0.6] and len(data["most_sensitive"]) == 3
    assert f"most sensitive: {', '.join(data['most_sensitive'])}" in r.stdout
    assert "| group (layer) | channels | 30% | 60% |" in (out / "sensitivity.md").read_text()
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_sweep_runs_then_resumes_without_work(cli, model, tmp_path):
    ckpt, prof = model
    out = tmp_path / "sw"
    args = ("sweep", str(ckpt), "--profile", str(prof), "--methods", "lfp,nsfp", "--ratios", "0.5",
            "--recover", "none", "--epochs", "1", "--iters", "2", "--batch", "1", "--out", str(out))
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "2 cells, 0 already finished, 2 to run (local)" in first.stdout
    assert "[2/2] nsfp-r0.5-none-f0: accuracy" in first.stdout
    assert "wrote" in first.stdout and (out / "sweep.md").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/report.json")}
    assert len(stamps) == 2
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "2 cells, 2 already finished, 0 to run (local)" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/report.json")} == stamps


@pytest.mark.slow
@pytest.mark.parametrize("flags,shown", [(("--methods", "lfp,magic"), "magic"), (("--ratios", "0.5,1.5"), "1.5"),
                                         (("--recover", "retrain"), "retrain"),
                                         (("--methods", "lfp", "--sparsity", "1e-3"), "applies to nsfp"),
                                         (("--methods", "sfp", "--sfp-schedule", "cosine"), "cosine")])
def test_bad_grid_flags_are_one_line_errors(cli, model, tmp_path, flags, shown):
    ckpt, prof = model
    r = cli("sweep", str(ckpt), "--profile", str(prof), *flags, "--out", str(tmp_path / "sw"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eegdeploy: error:") and shown in lines[0]
    assert not (tmp_path / "sw").exists()  # rejected before any work or output
