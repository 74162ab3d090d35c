"""slim.pt of the ATen kind: models torch.fx cannot trace, stored as their torch.export graph and interpreted."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import CheckpointError, InputError
from eegdeploy.models import load_model
from eegdeploy.models.aten import ATEN_OPS, AtenModule, from_aten, to_aten
from eegdeploy.models.portable import PortableModule, from_portable, load_portable, save_portable, write_portable

einops = pytest.importorskip("einops")


class TinyViT(nn.Module):
    """ViT-like: einops patches, a class token, a learned position embedding, fused qkv with a ``heads`` attribute
    read in forward, scaled dot-product attention, pre-norm MLP; x.shape unpacking torch.fx cannot trace."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.patch = nn.Linear(2 * 4, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 5, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 16), nn.GELU(), nn.Dropout(0.5), nn.Linear(16, dim))
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        x = einops.rearrange(x, "b c (n p) -> b n (c p)", p=4)
        b, n, _ = x.shape
        x = torch.cat([self.cls.expand(b, -1, -1), self.patch(x)], dim=1) + self.pos[:, :n + 1]
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        q, k, v = (einops.rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.out(einops.rearrange(a, "b h n d -> b n (h d)"))
        x = x + self.mlp(self.norm2(x))
        return self.head(x[:, 0])


class LenGetattr(nn.Module):
    """len() of a tensor, getattr of blocks by name, shape arithmetic: torch.fx stops at each of them."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = nn.Conv1d(3, 4, 3, padding=1)
        self.block1 = nn.Conv1d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4 * 5, 2)

    def forward(self, x):
        n = len(x)
        for i in range(2):
            x = torch.relu(getattr(self, f"block{i}")(x))
        x = F.max_pool1d(self.bn(x), 2)
        return self.fc(x.reshape(n, x.shape[1] * x.shape[2]))


def _eval(m: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    m = m.eval()
    if hasattr(m, "bn"):
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
    return m


@pytest.mark.slow
@pytest.mark.parametrize("make, shape", [(TinyViT, (2, 16)), (LenGetattr, (3, 10))], ids=["einops-vit", "len-getattr"])
def test_untraceable_models_get_an_aten_slim_pt_equal_at_batch_1_and_16(make, shape, tmp_path):
    model = _eval(make())
    with pytest.raises(Exception):  # the reason this kind exists: torch.fx cannot trace these
        torch.fx.symbolic_trace(model)
    path, kind = write_portable(model, torch.randn(1, *shape), tmp_path / "slim.pt", meta={"input": {"shape": list(shape)}})
    assert kind == "aten"
    obj = torch.load(path, weights_only=True)
    assert obj["kind"] == "aten" and obj["input"] == {"shape": [None, *shape], "dtype": "float32"}
    assert all(n["target"] in ATEN_OPS for n in obj["graph"] if n["op"] == "call")
    back = load_portable(path)
    assert type(back) is AtenModule
    for batch in (1, 16):
        x = torch.randn(batch, *shape)
        with torch.no_grad():
            assert (back(x) - model(x)).abs().max().item() <= 1e-6
    bundle = load_model(path)
    assert bundle.arch == "portable" and bundle.input.shape == shape


@pytest.fixture(scope="module")
def vit_obj() -> dict:
    return to_aten(_eval(TinyViT()), torch.randn(1, 2, 16), meta={"input": {"shape": [2, 16]}})


def test_a_wrong_input_shape_is_one_clear_line(vit_obj):
    back = from_aten(vit_obj)
    with pytest.raises(InputError, match=r"takes inputs of shape \(B, 2, 16\), got \[2, 2, 12\]"):
        back(torch.randn(2, 2, 12))


def test_parameters_train(vit_obj):
    model = _eval(TinyViT())
    back = from_aten(vit_obj)
    params = dict(back.named_parameters())
    # the file's tensors keep their module paths and stay trainable parameters
    assert set(params) == {n for n, _ in model.named_parameters()}
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params.values())
    x, y = torch.randn(8, 2, 16), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    back.train()
    opt = torch.optim.SGD(back.parameters(), lr=0.1)
    before = F.cross_entropy(back(x), y).item()
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(back(x), y).backward()
        opt.step()
    assert F.cross_entropy(back(x), y).item() < before
    assert back.qkv.weight.grad is not None


def test_fx_traceable_models_keep_the_fx_kind(tmp_path):
    _, kind = write_portable(nn.Sequential(nn.Linear(3, 2)).eval(), torch.randn(1, 3), tmp_path / "a.pt")
    assert kind == "fx" and type(load_portable(tmp_path / "a.pt")) is PortableModule


def test_an_op_outside_the_whitelist_is_named_at_save_and_nothing_is_written(tmp_path):
    from eegdeploy.errors import UnsupportedLayerError

    class Spectral(nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).abs()[..., : len(x[0])]

    with pytest.raises(UnsupportedLayerError, match=r"operation aten\.fft_rfft\.default at graph node fft_rfft is outside the slim.pt whitelist"):
        save_portable(Spectral(), torch.randn(1, 4, 8), tmp_path / "s.pt")
    assert list(tmp_path.iterdir()) == []


def _edited(obj: dict, edit) -> dict:
    import copy

    o = copy.deepcopy(obj)
    edit(o)
    return o


def _call(o: dict, target: str) -> dict:
    return next(n for n in o["graph"] if n["op"] == "call" and n["target"] == target)


@pytest.mark.parametrize("edit, words", [
    (lambda o: _call(o, "aten.linear.default").__setitem__("target", "aten.empty_strided.default"),
     "not in the whitelist of ATen operations"),
    (lambda o: _call(o, "aten.linear.default").__setitem__("target", "builtins.exec"), "not in the whitelist"),
    (lambda o: _call(o, "aten.linear.default").__setitem__("target", "aten.add_.Tensor"), "not in the whitelist"),
    (lambda o: _call(o, "aten.linear.default").__setitem__("target", "torch.load"), "not in the whitelist"),
    (lambda o: o["params"].__setitem__("../../etc/passwd", torch.zeros(1)), "not a plain attribute path"),
    (lambda o: o["params"].__setitem__("__class__", torch.zeros(1)), "not a plain attribute path"),
    (lambda o: o["graph"][0].__setitem__("target", "params:../../x"), "undeclared tensor"),
    (lambda o: _call(o, "aten.linear.default").__setitem__("args", {"tuple": [{"code": "os.system('x')"}]}),
     "unknown kind"),
    (lambda o: _call(o, "aten.linear.default")["kwargs"]["dict"].__setitem__("__globals__", 1), "not allowed"),
    (lambda o: o["graph"][-2].__setitem__("args", {"tuple": [{"dtype": "os.system"}]}), "outside the whitelist"),
    (lambda o: o["params"].__setitem__("big", torch.zeros(1, dtype=torch.complex64)), "outside the whitelist"),
    (lambda o: o["input"].__setitem__("shape", "/etc/passwd"), "malformed input"),
    (lambda o: o.__setitem__("graph", o["graph"][:1]), "one output step"),
], ids=["aten-op", "builtin", "inplace", "torch-load", "param-path", "param-dunder", "tensor-ref-path", "arg-kind",
        "kwarg-dunder", "dtype", "tensor-dtype", "input-path", "no-output"])
def test_crafted_aten_files_are_refused_at_load(vit_obj, edit, words):
    with pytest.raises(CheckpointError, match=words):
        from_portable(_edited(vit_obj, edit))


def test_a_declared_input_past_the_budget_is_refused_at_load(vit_obj):
    from eegdeploy.limits import BudgetError

    with pytest.raises(BudgetError, match="input sample size .* over the limit"):
        from_portable(_edited(vit_obj, lambda o: o["input"].__setitem__("shape", [None, 1 << 20, 1 << 20])))


def _repeat_bomb(o: dict) -> None:
    n = _call(o, "aten.view.default")  # the first step on the input (B, 2, 16)
    n["args"] = {"tuple": [n["args"]["tuple"][0], [1, 60000, 60000]]}
    n["target"] = "aten.repeat.default"  # (2 * 60000) x (16 * 60000) values per sample (460 GB at float32)


@pytest.mark.parametrize("edit, words", [
    (_repeat_bomb, r"an activation \(values per sample\) is 115,200,000,000, over the limit"),
    (lambda o: _call(o, "aten.linear.default")["args"]["tuple"].__setitem__(0, {"tuple": []}), "cannot run on input"),
], ids=["repeat-bomb", "bad-args"])
def test_size_bombs_and_broken_graphs_fail_before_any_real_computation(vit_obj, edit, words):
    back = from_portable(_edited(vit_obj, edit))
    with pytest.raises(InputError, match=words):  # CheckpointError, or BudgetError for a size
        back(torch.randn(2, 2, 16))


def test_an_attention_whose_weight_matrix_is_past_the_budget_is_refused_before_it_runs(tmp_path):
    from eegdeploy.limits import BudgetError
    from tests.reliability.bombs import aten_slim

    def edit(obj):  # relu step -> sdpa(v, v, v), v = x viewed as (B, 1, 6, 1) and repeated to (B, 1, 48000, 1)
        obj["graph"][3].update(target="aten.scaled_dot_product_attention.default",
                               args={"tuple": [{"node": "v"}, {"node": "v"}, {"node": "v"}]})
        obj["graph"][3:3] = [
            {"op": "call", "name": "v0", "target": "aten.view.default",
             "args": {"tuple": [{"node": "x"}, [-1, 1, 6, 1]]}, "kwargs": {"dict": {}}},
            {"op": "call", "name": "v", "target": "aten.repeat.default",
             "args": {"tuple": [{"node": "v0"}, [1, 1, 8000, 1]]}, "kwargs": {"dict": {}}}]

    back = load_portable(aten_slim(tmp_path, edit=edit))
    # by hand: the attention weights are 1 x 1 x 48,000 x 48,000 = 2,304,000,000 values per sample
    with pytest.raises(BudgetError, match=r"intermediate of aten.scaled_dot_product_attention.default \(values per "
                                          r"sample\) is 2,304,000,000"):
        back(torch.randn(2, 6))


def test_a_nested_structure_bomb_is_refused_quickly(vit_obj):
    import time

    shared: list = [0]
    for _ in range(12):  # one list shared 12 levels deep: 4096^12 paths, a few KB in a pickle
        shared = [shared] * 4096
    t = time.perf_counter()
    with pytest.raises(CheckpointError, match="argument values|too deeply"):
        from_portable(_edited(vit_obj, lambda o: _call(o, "aten.linear.default")["kwargs"]["dict"].__setitem__(
            "bias", shared)))
    assert time.perf_counter() - t < 30  # bounded work (the total is counted), not a hang
    deep: list = [0]
    for _ in range(200):
        deep = [deep]
    with pytest.raises(CheckpointError, match="too deeply"):
        from_portable(_edited(vit_obj, lambda o: _call(o, "aten.linear.default")["kwargs"]["dict"].__setitem__(
            "bias", deep)))


def test_the_whitelist_names_only_functional_aten_ops_and_size_arithmetic():
    assert 100 < len(ATEN_OPS) < 400
    assert all(k.startswith("aten.") or k.startswith("operator.") for k in ATEN_OPS)
    packets = [k.split(".")[1] for k in ATEN_OPS if k.startswith("aten.")]
    assert not [p for p in packets if p.endswith("_")]  # ATen names in-place ops add_, mul_, ...: none listed
    # nothing that reads a file, hands out uninitialised memory, or has a data-dependent output shape
    assert not {"empty", "empty_strided", "from_file", "_local_scalar_dense", "item", "nonzero"} & set(packets)


def _cli(args: list[str], tmp_path) -> tuple[int, str, str]:
    import contextlib
    import io
    import os

    from eegdeploy.cli import main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_commands_on_an_aten_slim_pt(tmp_path):
    """bench and export run it, inspect shows its layers, compress refuses with one line (its shapes are fixed)."""
    import json

    import numpy as np
    import onnxruntime as ort

    from tests.reliability.bombs import aten_slim

    path = aten_slim(tmp_path)  # y = linear(relu(x), W = 1/6, b = [0.5, -0.5]), input (B, 6)
    code, out, err = _cli(["inspect", str(path)], tmp_path)
    assert code == 0, err
    out = " ".join(out.split())
    assert "ATen-graph slim.pt, 14 parameters, 12 MACs" in out and "cannot be pruned again" in out  # 2x6 + 2; 6x2
    code, out, err = _cli(["compress", str(path), "--out", str(tmp_path / "run")], tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot be pruned again" in err
    assert not (tmp_path / "run").exists()
    code, out, err = _cli(["bench", str(path), "--batch", "1,16", "--iters", "2", "--json",
                           str(tmp_path / "b.json")], tmp_path)
    assert code == 0, err
    bench = json.loads((tmp_path / "b.json").read_text())
    assert set(bench["latency_ms"]["torch-cpu"]) == {"1", "16"}
    # by hand: 2 x 6 weights + 2 biases; 2 x 6 MACs; FLOPs 2 x 12 + 2 bias adds + 6 ReLU
    assert (bench["counts"]["params"], bench["counts"]["macs"], bench["counts"]["flops"]) == (14, 12, 32)
    code, out, err = _cli(["export", str(path), "--out", str(tmp_path / "s.onnx"), "--no-bench"], tmp_path)
    assert code == 0, err
    sess = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 16):  # the batch stays dynamic through the interpreter
        x = np.random.default_rng(batch).standard_normal((batch, 6)).astype(np.float32)
        want = np.maximum(x, 0).sum(1, keepdims=True) / 6 + np.array([[0.5, -0.5]], dtype=np.float32)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        assert got.shape == (batch, 2) and np.abs(got - want).max() <= 1e-5


def test_docs_list_exactly_the_whitelist():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    block = text.split("<!-- aten-ops -->")[1].split("<!-- /aten-ops -->")[0]
    assert set(re.findall(r"`([^`]+)`", block)) == {k[5:] for k in ATEN_OPS if k.startswith("aten.")}


# torch.fx traces these slim models (fx kind) or not (ATen kind); TSLANet's FFT is outside the whitelist
TORCHEEG_KINDS = {"ArjunViT": "aten", "CCNN": "fx", "CSPNet": "fx", "Conformer": "aten", "DeepSleepNet": "fx",
                  "EEGNet": "fx", "FBCCNN": "fx", "FBCNet": "fx", "FBMSNet": "aten", "LMDA": "fx", "LaBraM": "aten",
                  "MTCNN": "fx", "SSTEmotionNet": "aten", "STNet": "fx", "SimpleViT": "aten", "TCNet": "aten",
                  "TSCeption": "fx", "TSLANet": "aten.fft_rfft.default", "TinySleepNet": "fx", "USleep": "aten",
                  "VanillaTransformer": "aten", "ViT": "aten"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TORCHEEG_KINDS))
def test_every_torcheeg_model_of_the_coverage_page_gets_a_slim_pt(name, tmp_path):
    from eegdeploy.errors import UnsupportedLayerError
    from eegdeploy.models import build_model
    from eegdeploy.prune import LFPConfig, prune, slim
    from eegdeploy.prune.coverage import FORWARD_KWARGS, TORCHEEG_CASES, WithKwargs

    kwargs, shape = TORCHEEG_CASES[name]
    torch.manual_seed(0)
    model = build_model(f"torcheeg:{name}", kwargs).eval()
    if name in FORWARD_KWARGS:
        model = WithKwargs(model, **FORWARD_KWARGS[name]).eval()
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    small = slim(model, prune(model, LFPConfig(0.5), example=x), x, verify=False).eval()
    if TORCHEEG_KINDS[name].startswith("aten."):
        with pytest.raises(UnsupportedLayerError, match=f"operation {TORCHEEG_KINDS[name]} at graph node"):
            write_portable(small, x, tmp_path / "slim.pt")
        return
    path, kind = write_portable(small, x, tmp_path / "slim.pt")
    assert kind == TORCHEEG_KINDS[name]
    back = load_portable(path)
    for batch in (1, 16):
        if name == "MTCNN" and batch > 1:
            continue  # MTCNN itself runs only at batch 1 (FINDINGS.md)
        xb = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            assert (back(xb) - small(xb)).abs().max().item() <= 1e-6
