import json

import numpy as np
import pytest
import torch

from eegdeploy.config import load_profile
from eegdeploy.models import bundle_from_profile, save_checkpoint
from eegdeploy.report.schema import validate_report

FAST = ("--iters", "3", "--batch", "1,4")


def _npz(tmp_path, shape, n=48):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1] += 0.5
    p = tmp_path / "d.npz"
    np.savez(p, X=X, y=y)
    return p


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"])
def test_compress_every_profile_without_recovery(cli, tmp_path, name):
    prof = load_profile(name)
    ckpt = save_checkpoint(bundle_from_profile(prof, seed=0), tmp_path / "m.pt")
    out = tmp_path / "out"
    res = cli("compress", str(ckpt), "--recover", "none", "--data", str(_npz(tmp_path, prof.input.shape)),
              "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report.json").read_text())
    assert validate_report(report) == []
    assert report["recipe"]["method"] == "lfp" and report["recipe"]["recover"] == "none"
    assert report["parity"]["slim_vs_pruned_max_abs"] <= 1e-5
    assert report["parity"]["onnx_vs_torch_max_abs"] <= 1e-4
    assert report["slim"]["macs"] < report["baseline"]["macs"]
    for f in ("baseline.onnx", "slim.onnx", "slim.pt", "report.md", "model-card.md", "test-vectors.npz",
              "comparison.png"):
        assert (out / f).is_file(), f
    with np.load(out / "test-vectors.npz") as v:
        assert v["inputs"].shape[1:] == tuple(prof.input.shape) and v["outputs"].shape[1] == 2
    assert "ort-cpu p50, batch 4" in res.stdout


@pytest.mark.slow
def test_compress_a_users_own_model(cli, tmp_path):
    from tests.cli.netdefs import SmallCNN

    torch.save(SmallCNN(channels=8).state_dict(), tmp_path / "sd.pt")
    out = tmp_path / "out"
    res = cli("compress", str(tmp_path / "sd.pt"), "--arch", "tests.cli.netdefs:SmallCNN",
              "--arch-kwargs", '{"channels": 8}', "--input-shape", "1,4,32",
              "--data", str(_npz(tmp_path, (1, 4, 32))), "--recover", "finetune", "--epochs", "1",
              "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["arch"] == "tests.cli.netdefs:SmallCNN"
    assert report["slim"]["params"] < report["baseline"]["params"]
    plan = report["extras"]["plan"]
    assert len(plan["keep"]["features.0"]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (("--ratio", "1.5"), "ratio"),
    (("--ratio", "0"), "ratio"),
    (("--method", "magic"), "'lfp', 'nsfp', 'sfp', 'uwmp'"),
    (("--recover", "later"), "finetune"),
    (("--profile", "nope"), "nope"),
], ids=["ratio-high", "ratio-zero", "method", "recover", "profile"])
def test_bad_input_is_one_line_and_leaves_nothing(cli, tmp_path, args, message):
    ckpt = save_checkpoint(bundle_from_profile(load_profile("eegnet-deap"), seed=0), tmp_path / "m.pt")
    out = tmp_path / "out"
    res = cli("compress", str(ckpt), "--out", str(out), *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_state_dict_for_another_architecture_names_key_and_shapes(cli, tmp_path):
    sd = bundle_from_profile(load_profile("eegnet-deap"), seed=0).module.state_dict()
    torch.save(sd, tmp_path / "sd.pt")
    res = cli("compress", str(tmp_path / "sd.pt"), "--profile", "ccnn-deap", "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@pytest.mark.slow
def test_export_and_inspect_commands(cli, tmp_path):
    ckpt = save_checkpoint(bundle_from_profile(load_profile("tsception-deap"), seed=0), tmp_path / "m.pt")
    res = cli("export", str(ckpt), "--out", str(tmp_path / "m.onnx"))
    assert res.returncode == 0, res.stderr
    for f in ("m.onnx", "m.test-vectors.npz", "m.model-card.md"):
        assert (tmp_path / f).is_file()
    assert "torchscript" in res.stdout
    card = (tmp_path / "m.model-card.md").read_text()
    assert "Fp1, AF3" in card and "logits" in card
    res = cli("inspect", str(tmp_path / "m.onnx"))
    assert res.returncode == 0 and "eegdeploy.class_names" in res.stdout and "[batch, 1, 28, 512]" in res.stdout
    res = cli("inspect", str(ckpt))
    assert res.returncode == 0 and "Tception1.1" in res.stdout and "model output" in res.stdout


@pytest.mark.slow
def test_own_model_without_data_warns_synthetic_and_the_card_says_so(cli, tmp_path):
    """Issue 17: synthetic data standing in for a model that is not a shipped profile is said, in one line up
    front, and in the model card and report."""
    from tests.cli.netdefs import MyNet

    torch.save(MyNet().state_dict(), tmp_path / "own.pt")
    out = tmp_path / "out"
    res = cli("compress", str(tmp_path / "own.pt"), "--arch", "tests.cli.netdefs:MyNet", "--input-shape", "1,4,32",
              "--recover", "none", "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stdout.splitlines() if line.startswith("warning: no --data")]
    assert len(warnings) == 1 and "synthetic EEG" in warnings[0] and "not a shipped profile" in warnings[0]
    card = (out / "model-card.md").read_text()
    assert "**Synthetic data**" in card and "**Warning**: no --data" in card
    report = json.loads((out / "report.json").read_text())
    acc = report["extras"]["accuracy"]
    assert acc["synthetic"] is True and acc["n_test"] == report["data"]["n_test"]
    n = acc["n_test"]
    k = round(report["slim"]["accuracy"] * n)
    assert acc["slim"]["ci95"][0] <= k / n <= acc["slim"]["ci95"][1]
    assert "test accuracy (synthetic)" in res.stdout
    md = (out / "report.md").read_text()
    stages = md[md.index("| stage | seconds |"):].split("\n\n")[0].splitlines()[2:]
    assert [row.split(" | ")[0].strip("| ") for row in stages] == [
        k for k in report["timings_s"] if k != "report"]
    wrote = [line for line in res.stdout.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1 and "comparison.png" in wrote[0] and "channels.png" in wrote[0], wrote
