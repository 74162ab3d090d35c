"""rewrite_onnx end to end: the cost model's choice, measured choices stay exact, bad input, torch-free import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eegdeploy.errors import InputError
from eegdeploy.rewrite import RewriteConfig, rewrite_onnx
from eegdeploy.rewrite.choose import cost

from .test_forms import Stack, _run


def eegnet_block(c: int = 8, t: int = 64, f1: int = 4, d: int = 2, k: int = 16):
    """EEGNet's first block as exported: temporal conv (BN folded: bias) → depthwise spatial conv → BN → ELU."""
    s = Stack((1, c, t), 0)
    s.conv(1, f1, (1, k), pads=(0, k // 2 - 1, 0, k // 2), bias=True)
    s.conv(f1, f1 * d, (c, 1), group=f1, bias=False)
    s.bn(f1 * d)
    s.op("Elu", alpha=1.0)
    s.op("AveragePool", kernel_shape=[1, 4], strides=[1, 4])
    return s.model()


def test_cost_model_picks_electrodes_first_for_eegnet_block():
    # by hand, per sample (C=8, T=64, F1=4, D=2, K=16): as-is = temporal 4*16*8*64 MACs + 8x im2col 16*8*64
    # = 32768 + 65536, plus the spatial conv; electrodes first = 8*8*64 + 8x 8*64 (mixing) + 8*16*64 + 8x 16*64*8
    # (depthwise) = 4096 + 4096 + 8192 + 65536: cheaper, so it is chosen, and merged (1 x 8x16 kernel) is not
    m = eegnet_block()
    res = rewrite_onnx(m.SerializeToString(), RewriteConfig(measure=False))
    chosen = [r for r in res.rewrites if r.kind == "conv-chain"][0]
    assert chosen.form == "electrodes-first"
    assert chosen.unit == "cost"
    assert chosen.candidates["electrodes-first"] < chosen.candidates["as-is"] < chosen.candidates["merged"]
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 64)).astype(np.float32)
    import onnx

    got = _run(onnx.load_from_string(res.model), x)
    assert np.abs(got - _run(m, x)).max() <= 1e-5
    assert res.parity_max_abs <= 1e-5


def test_measured_rewrite_is_exact_and_records_timings():
    m = eegnet_block()
    res = rewrite_onnx(m.SerializeToString(), RewriteConfig(batch=8, rounds=3))
    assert res.measured
    assert res.parity_max_abs <= 1e-4
    decided = [r for r in res.rewrites if r.candidates]
    assert decided and all("as-is" in r.candidates and r.unit == "cpu-ms" for r in decided)
    for r in res.applied:  # kept only when faster than as-is by min_gain
        assert r.candidates["as-is"] >= 1.03 * r.candidates[r.form]


def test_nothing_to_rewrite_returns_the_same_graph():
    s = Stack((1, 4, 32), 0)
    s.conv(1, 4, (1, 5))
    s.op("Tanh")  # breaks the chain
    s.conv(4, 4, (4, 1))
    s.op("AveragePool", kernel_shape=[1, 2], strides=[1, 2])
    m = s.model()
    res = rewrite_onnx(m.SerializeToString(), RewriteConfig(measure=False))
    import onnx

    out = onnx.load_from_string(res.model)
    assert [n.op_type for n in out.graph.node] == [n.op_type for n in m.graph.node]
    assert res.applied == [] and res.rewrites == []


def test_cost_model_splits_elu_into_the_max_form():
    # one ELU on E = 4*32 elements per sample: as-is 10 E (scalar), relu+exp 5 E, max+exp 4 E (Min, Exp, Sub, Max)
    s = Stack((4, 1, 32), 0)
    s.op("Elu", alpha=1.0)
    res = rewrite_onnx(s.model().SerializeToString(), RewriteConfig(measure=False, batch=1))
    (r,) = res.rewrites
    assert r.kind == "elu-split" and r.form == "max+exp" and r.unit == "cost"
    e = 4 * 32
    assert r.candidates == {"as-is": 10 * e + e, "relu+exp": 5 * e + e, "max+exp": 4 * e + e}  # + the Identity


def test_cost_counts_macs_by_hand():
    # one 1x1 conv 2 -> 3 on [N, 2, 1, 10] (no im2col for 1x1 stride 1) then Identity: 3*2*10 MACs + 30 copies
    s = Stack((2, 1, 10), 0)
    s.conv(2, 3, (1, 1), bias=False)
    assert cost(s.model().SerializeToString(), batch=1) == 3 * 2 * 10 + 3 * 10


def test_bad_input_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not an ONNX model"):
        rewrite_onnx(bad)
    with pytest.raises(InputError, match="cannot read"):
        rewrite_onnx(tmp_path / "missing.onnx")
    from eegdeploy.errors import EegDeployError

    with pytest.raises(EegDeployError, match="batch"):
        RewriteConfig(batch=0)


def test_import_is_torch_free():
    code = ("import sys, eegdeploy.rewrite as r; r.rewrite_onnx; r.rewrites_table; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_optimize_writes_the_rewritten_file(tmp_path):
    # eegdeploy export --optimize on an eegnet-deap checkpoint: export.json lists the decisions, the file matches
    # PyTorch and has fewer im2col-heavy convs than the plain export (electrodes-first or merged: by measurement)
    import json

    import onnx
    import torch

    from eegdeploy.cli import main
    from eegdeploy.config import load_profile
    from eegdeploy.export import ort_run
    from eegdeploy.models import bundle_from_profile, save_checkpoint

    bundle = bundle_from_profile(load_profile("eegnet-deap"), seed=0)
    save_checkpoint(bundle, tmp_path / "m.pt")
    assert main(["export", str(tmp_path / "m.pt"), "--optimize", "--no-measure", "--no-bench",
                 "--out", str(tmp_path / "o" / "m.onnx")]) == 0
    rec = json.loads((tmp_path / "o" / "m.export.json").read_text())
    first = rec["rewrites"]["rewrites"][0]
    assert first["form"] == "electrodes-first" and first["unit"] == "cost"
    m = onnx.load(tmp_path / "o" / "m.onnx")
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    first_conv = [a for a in convs[0].attribute if a.name == "kernel_shape"][0].ints
    assert list(first_conv) == [32, 1]  # electrodes mixed first (was the 1 x 64 temporal conv)
    x = torch.randn(5, 1, 32, 128)
    with torch.no_grad():
        ref = bundle.module.eval()(x).numpy()
    assert np.abs(ort_run(tmp_path / "o" / "m.onnx", x.numpy()) - ref).max() <= 1e-4


def test_cost_skips_im2col_for_blocked_convs():
    # 1x3 conv on [1, 16, 1, 10] → [1, cout, 1, 8]; per output 16*3 = 48 MACs. cout 16 runs blocked (direct, no
    # unrolled input): 16*8*48 MACs + the Identity's 128 elements. cout 8 does not: 8*8*48 MACs + 8 x (8 positions
    # x 48 unrolled values) + 64
    s = Stack((16, 1, 10), 0)
    s.conv(16, 16, (1, 3), bias=False)
    assert cost(s.model().SerializeToString(), batch=1) == 16 * 8 * 48 + 128
    s = Stack((16, 1, 10), 0)
    s.conv(16, 8, (1, 3), bias=False)
    assert cost(s.model().SerializeToString(), batch=1) == 8 * 8 * 48 + 8 * 8 * 48 + 64


def test_inspect_shows_the_rewrites_export_optimize_would_make(tmp_path, capsys):
    from eegdeploy.cli import main

    path = tmp_path / "block.onnx"
    path.write_bytes(eegnet_block().SerializeToString())
    before = path.read_bytes()
    assert main(["inspect", str(path), "--rewrites", "cost", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "exact rewrites (cost model, batch 4)" in out
    assert "electrodes-first" in out and "max+exp" in out  # the cost model's picks for this block (see above)
    assert "would change" in out and "max abs difference" in out
    assert path.read_bytes() == before  # inspect writes nothing


def test_inspect_rewrites_on_a_checkpoint_is_one_clear_error(tmp_path, capsys):
    from eegdeploy.cli import main

    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"not read")
    assert main(["inspect", str(ckpt), "--rewrites", "cost"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rewrites works on an ONNX file" in err[0]
