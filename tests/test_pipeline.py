import numpy as np
import pytest

from eegdeploy.config import TrainConfig, load_profile
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.models import bundle_from_profile
from eegdeploy.pipeline import CompressConfig, compress

TRAIN = TrainConfig(epochs=1, batch_size=16, lr=1e-3)


def _splits(shape, n=40):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.arange(n) % 2
    return split_arrays(X, y, None, None, seed=0, val=0.25, test=0.25, source="test")


def _run(name, tmp_path, **kw):
    prof = load_profile(name)
    cfg = CompressConfig(batches=(1,), iters=2, warmup=1, runtimes=("ort-cpu",), train=TRAIN, **kw)
    return compress(bundle_from_profile(prof, seed=0), _splits(prof.input.shape), cfg,
                    tmp_path / f"{name}-{kw.get('method', 'lfp')}-{kw.get('recover', 'finetune')}")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lfp", "sfp", "nsfp", "uwmp"])
@pytest.mark.parametrize("name", ["ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"])
def test_every_method_on_every_profile(name, method, tmp_path):
    prof = load_profile(name)
    if method == "nsfp" and name in ("ccnn-deap", "fbccnn-deap"):
        from eegdeploy.models import build_model
        from eegdeploy.prune import has_batchnorm

        if not has_batchnorm(build_model(prof.arch, prof.arch_kwargs)):
            with pytest.raises(ConfigError, match="BatchNorm"):
                _run(name, tmp_path, method=method, recover="none")
            return
    r = _run(name, tmp_path, method=method, recover="none").to_dict()
    assert r["recipe"]["method"] == method
    assert r["parity"]["slim_vs_pruned_max_abs"] <= 1e-5 and r["parity"]["onnx_vs_torch_max_abs"] <= 1e-4
    if method == "uwmp":
        assert r["slim"]["nonzero_params"] < r["baseline"]["params"]
        assert any("dense latency does not drop" in n for n in r["extras"]["notes"])
    else:
        assert r["slim"]["macs"] < r["baseline"]["macs"]


@pytest.mark.slow
def test_finetune_and_scratch_start_from_different_weights(tmp_path):
    a = _run("eegnet-bci", tmp_path, recover="finetune", epochs=1).to_dict()
    b = _run("eegnet-bci", tmp_path, recover="scratch", epochs=1).to_dict()
    la = a["extras"]["training"]["recovery"]["history"][0]["loss"]
    lb = b["extras"]["training"]["recovery"]["history"][0]["loss"]
    assert la != lb
    assert a["slim"]["params"] == b["slim"]["params"]


@pytest.mark.slow
def test_knowledge_guided_compress_reports_both_recoveries(tmp_path):
    prof = load_profile("ccnn-deap")
    cfg = CompressConfig(batches=(1,), iters=2, warmup=1, runtimes=("ort-cpu",), epochs=1, train=TRAIN,
                         kg={"mode": "region", "region": "prefrontal", "weight": 1.0, "layer": None})
    r = compress(bundle_from_profile(prof, seed=0), _splits(prof.input.shape), cfg, tmp_path / "kg")
    kg = r.to_dict()["extras"]["kg"]
    assert 0 <= kg["share_before"] <= 1 and {"share", "accuracy"} <= set(kg["plain"]) and kg["cost_per_batch_s"] > 0
    assert (tmp_path / "kg" / "evidence.png").is_file()
    assert "Knowledge-guided recovery" in (tmp_path / "kg" / "report.md").read_text()


def test_kg_bad_region_fails_before_any_work(tmp_path):
    prof = load_profile("eegnet-bci")
    cfg = CompressConfig(kg={"mode": "region", "region": "prefrontal", "weight": 1.0, "layer": None})
    with pytest.raises(ConfigError, match="maps to no electrode"):
        compress(bundle_from_profile(prof, seed=0), _splits(prof.input.shape), cfg, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _fake_quant(int8_ms: float, drop: float):
    """quantize_int8 stand-in with given figures (the keep decision is tested on numbers, never on timings)."""
    from pathlib import Path

    from eegdeploy.export.quant import QuantResult, onnx_accuracy

    def quantize_int8(fp32, out, *, calibration, test, max_accuracy_drop, latency_batch, threads):
        Path(out).write_bytes(Path(fp32).read_bytes())  # an fp32 copy stands in for the int8 file
        acc = onnx_accuracy(fp32, test.X, test.y)
        return QuantResult(Path(out), 1000, 250, acc, acc - drop, 10.0, int8_ms, latency_batch=latency_batch)
    return quantize_int8


@pytest.mark.parametrize("int8_ms, drop, kept", [
    pytest.param(2.0, 0.0, True, id="kept"),
    pytest.param(11.0, 0.0, False, id="slower", marks=pytest.mark.slow),
    pytest.param(2.0, 0.05, False, id="less-accurate", marks=pytest.mark.slow)])
def test_compress_int8_is_kept_only_where_faster_and_within_tolerance(tmp_path, monkeypatch, int8_ms, drop, kept):
    import json

    monkeypatch.setattr("eegdeploy.export.quant.quantize_int8", _fake_quant(int8_ms, drop))
    out = tmp_path / "eegnet-bci-lfp-none"
    r = _run("eegnet-bci", tmp_path, recover="none", int8=True).to_dict()
    assert (out / "slim.int8.onnx").exists() is kept
    assert r["extras"]["int8"]["kept"] is kept and ("int8" in r) is kept
    card = (out / "model-card.md").read_text()
    if kept:
        assert r["int8"]["accuracy"] == pytest.approx(r["extras"]["int8"]["int8_accuracy"])
        assert set(r["int8"]["latency_ms"]) == {"ort-cpu"} and r["int8"]["onnx_bytes"] == 250
        assert "shipped as `slim.int8.onnx`" in card
    else:
        reason = r["extras"]["int8"]["reason"]
        assert ("not faster" in reason) if int8_ms > 10 else ("loses 5.0 accuracy points (tolerance 1.0)" in reason)
        assert f"not shipped: {reason}" in card
        assert any(n == f"int8 copy dropped: {reason}" for n in r["extras"]["notes"])
    assert json.loads((out / "report.json").read_text())["extras"]["int8"]["kept"] is kept


def test_report_names_the_pruned_layers(tmp_path):
    r = _run("eegnet-bci", tmp_path, recover="none").to_dict()
    plan = r["extras"]["plan"]
    # by hand from the plan: the groups that lost channels, and none of the ones kept whole
    assert r["extras"]["pruned_layers"] == [g for g, k in plan["keep"].items() if len(k) < plan["sizes"][g]]
    assert r["extras"]["pruned_layers"] == ["temporal", "separable"]  # EEGNet: the classifier is never cut


@pytest.mark.slow
def test_a_transformer_compresses_end_to_end_with_an_aten_slim_pt(tmp_path):
    # torcheeg's ViT reads x.shape and calls einops in forward: torch.fx cannot trace it, so slim.pt holds its
    # torch.export graph of whitelisted ATen ops (batch dynamic), which reloads equal to the slim model
    from dataclasses import replace

    import torch

    from eegdeploy.models import load_model

    prof = load_profile("vit-deap")
    prof = replace(prof, arch_kwargs={**prof.arch_kwargs, "depth": 1, "head_channels": 8, "mlp_channels": 16})
    cfg = CompressConfig(batches=(1,), iters=2, warmup=1, runtimes=("ort-cpu",), recover="none", rewrite=False)
    out = tmp_path / "vit"
    r = compress(bundle_from_profile(prof, seed=0), _splits(prof.input.shape, n=24), cfg, out).to_dict()
    # no recipe in the config: the shipped vit-deap profile's, read from its TOML file here
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from pathlib import Path

    want = tomllib.loads((Path(__file__).parents[1] / "profiles" / "vit-deap.toml").read_text())["train"]
    assert {k: r["recipe"]["train"][k] for k in ("epochs", "batch_size", "lr")} == {
        k: want[k] for k in ("epochs", "batch_size", "lr")}
    assert "slim_pt_skipped" not in r["extras"] and r["extras"]["slim_pt_kind"] == "aten"
    assert not any(n.startswith("slim.pt not written") for n in r["extras"]["notes"])
    assert r["slim"]["macs"] < r["baseline"]["macs"]
    assert r["parity"]["slim_vs_pruned_max_abs"] <= 1e-5 and r["parity"]["onnx_vs_torch_max_abs"] <= 1e-4
    slim = load_model(out / "slim.pt").module
    vectors = np.load(out / "test-vectors.npz")  # inputs and outputs of the slim model, written from slim.onnx's run
    for batch in (1, 8):
        x = torch.from_numpy(vectors["inputs"][:batch])
        with torch.no_grad():
            assert float((slim(x) - torch.from_numpy(vectors["outputs"][:batch])).abs().max()) <= 1e-4


@pytest.mark.slow
def test_a_stale_slim_pt_does_not_survive_a_run_that_writes_none(tmp_path, monkeypatch):
    import eegdeploy.models.portable as portable
    from eegdeploy.errors import UnsupportedLayerError

    first = _run("eegnet-bci", tmp_path, recover="none", rewrite=False)
    folder = tmp_path / "eegnet-bci-lfp-none"
    assert (folder / "slim.pt").is_file() and first.extras["slim_pt_kind"] == "fx"
    (folder / "notes.txt").write_text("the user's own file")

    def refuse(*a, **k):
        raise UnsupportedLayerError("operation aten.fft_rfft.default at graph node fft_rfft is outside the slim.pt "
                                    "whitelist of ATen operations")

    monkeypatch.setattr(portable, "write_portable", refuse)
    second = _run("eegnet-bci", tmp_path, recover="none", rewrite=False).to_dict()
    assert "aten.fft_rfft.default" in second["extras"]["slim_pt_skipped"]
    assert not (folder / "slim.pt").exists()  # the first run's slim.pt would describe another model
    assert "slim.pt" not in second["extras"]["files"]
    assert (folder / "notes.txt").read_text() == "the user's own file"  # only files compress writes are replaced
