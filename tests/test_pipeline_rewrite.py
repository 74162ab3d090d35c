"""compress with the rewrite stage and rounded widths: what report.json says, what slim.onnx computes."""

import json

import numpy as np
import onnx
import pytest
import torch

from eegdeploy.config import load_profile
from eegdeploy.export import ort_run
from eegdeploy.models import bundle_from_profile, load_model
from eegdeploy.pipeline import CompressConfig, compress
from eegdeploy.report.schema import validate_report

from .test_pipeline import TRAIN, _splits


def _compress(name, out, **kw):
    prof = load_profile(name)
    cfg = CompressConfig(batches=(1, 8), iters=2, warmup=1, runtimes=("ort-cpu",), recover="none", train=TRAIN, **kw)
    return compress(bundle_from_profile(prof, seed=0), _splits(prof.input.shape), cfg, out)


@pytest.mark.slow
def test_shallowconvnet_rounded_and_merged(tmp_path):
    out = tmp_path / "shallow"
    _compress("shallowconvnet-bci", out, rewrite_measure=False)
    d = json.loads((out / "report.json").read_text())
    assert validate_report(d) == []
    # 40 filters, LFP 0.5 keeps 20, round-to 16 (default): 16 in both convs
    assert {g: len(k) for g, k in d["extras"]["plan"]["keep"].items() if g != "classifier"} == {
        "temporal": 16, "spatial": 16}
    # cost model, by hand (per sample): as-is 16*25*2*726 + 16*16*2*726 MACs plus unrolled inputs
    # 8*(1452*25 + 726*32); merged 16*50*726 MACs plus 8*726*50: merged is cheaper
    chain = [r for r in d["rewrites"] if r["kind"] == "conv-chain"]
    assert [(r["layers"], r["form"]) for r in chain] == [(["/temporal/Conv", "/spatial/Conv"], "merged")]
    m = onnx.load(out / "slim.onnx")
    assert [n.op_type for n in m.graph.node].count("Conv") == 1
    assert {p.key for p in m.metadata_props} >= {"eegdeploy.stage", "eegdeploy.recipe"}  # metadata kept
    # the delivered file computes what the slim PyTorch model computes
    slim = load_model(out / "slim.pt").module.eval()
    x = np.random.default_rng(1).standard_normal((6, 1, 2, 750)).astype(np.float32)
    with torch.no_grad():
        ref = slim(torch.from_numpy(x)).numpy()
    assert np.abs(ort_run(out / "slim.onnx", x) - ref).max() <= 1e-4
    assert d["parity"]["rewritten_vs_pruned_onnx_max_abs"] <= 1e-4
    # pruning-only figures sit beside the delivered ones; the hidden pruning-only file is not left behind
    assert d["pruned"]["macs"] == d["slim"]["macs"]
    assert set(d["pruned"]["latency_ms"]["ort-cpu"]) == {"1", "8"}
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    md = (out / "report.md").read_text()
    assert "| figure | baseline | slim (pruning only) | slim + rewrites | change |" in md
    assert "## Rewrites" in md


@pytest.mark.slow
def test_no_rewrite_and_round_to_one(tmp_path):
    out = tmp_path / "plain"
    res = _compress("shallowconvnet-bci", out, rewrite=False, round_to=1)
    d = res.to_dict()
    assert "pruned" not in d and "rewrites" not in d
    assert {g: len(k) for g, k in d["extras"]["plan"]["keep"].items() if g != "classifier"} == {
        "temporal": 20, "spatial": 20}
    m = onnx.load(out / "slim.onnx")
    assert [n.op_type for n in m.graph.node].count("Conv") == 2
    assert "| figure | baseline | slim | change |" in (out / "report.md").read_text()


def test_round_to_is_validated():
    from eegdeploy.errors import EegDeployError

    with pytest.raises(EegDeployError, match="round-to"):
        CompressConfig(round_to=0)
