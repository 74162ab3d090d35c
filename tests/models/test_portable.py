import pytest
import torch
import torch.nn as nn

from eegdeploy.config import load_profile
from eegdeploy.errors import CheckpointError, UnsupportedLayerError
from eegdeploy.models import bundle_from_profile, load_model
from eegdeploy.models.portable import PortableModule, from_portable, load_portable, save_portable, to_portable
from eegdeploy.prune import LFPConfig, prune, slim


@pytest.mark.parametrize("name", ["ccnn-deap", "tsception-deap", "eegnet-deap", "deepconvnet-bci"])
def test_portable_round_trip(name, tmp_path):
    prof = load_profile(name)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(3, *prof.input.shape)
    small = slim(model, prune(model, LFPConfig(0.5), example=x[:1]), x[:1])
    save_portable(small, x[:1], tmp_path / "slim.pt", meta={"input": prof.input.to_dict(), "class_names": ["a", "b"]})
    obj = torch.load(tmp_path / "slim.pt", weights_only=True)
    assert obj["format"] == "eegdeploy-portable"
    back = load_portable(tmp_path / "slim.pt")
    assert torch.allclose(back(x), small(x), atol=1e-6)
    bundle = load_model(tmp_path / "slim.pt")
    assert bundle.arch == "portable" and bundle.input.shape == tuple(prof.input.shape) and bundle.class_names == ("a", "b")


def test_reloads_without_the_original_class(tmp_path):
    class Gone(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(2, 3, 3)
            self.l = nn.Linear(3 * 6, 2)

        def forward(self, x):
            return self.l(torch.flatten(torch.relu(self.c(x)), 1))

    m = Gone().eval()
    x = torch.randn(2, 2, 8)
    ref = m(x)
    save_portable(m, x[:1], tmp_path / "g.pt")
    del Gone, m
    assert torch.allclose(load_portable(tmp_path / "g.pt")(x), ref, atol=1e-6)


def test_custom_layers_and_crafted_files_are_refused(tmp_path):
    class Mine(nn.Module):
        def forward(self, x):
            return x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = Mine()
            self.l = nn.Linear(2, 2)

        def forward(self, x):
            return self.l(torch.sin(x))

    with pytest.raises(UnsupportedLayerError, match="sin"):
        to_portable(Net())
    obj = to_portable(nn.Sequential(nn.Linear(2, 2)))
    obj["graph"][1]["target"] = "os.system"
    obj["graph"][1]["op"] = "call_function"
    with pytest.raises(CheckpointError, match="not allowed"):
        from_portable(obj)
    obj = to_portable(nn.Sequential(nn.Linear(2, 2)))
    obj["modules"]["0"]["type"] = "Module; import os"
    with pytest.raises(CheckpointError, match="unknown layer type"):
        from_portable(obj)


@pytest.mark.parametrize("name", ["ccnn-deap", "tsception-deap", "eegnet-deap"])
def test_torcheeg_models_from_build_model_round_trip(name, tmp_path):
    from eegdeploy.models import build_model

    prof = load_profile(name)
    torch.manual_seed(0)
    model = build_model(prof.arch, prof.arch_kwargs).eval()
    x = torch.randn(2, *prof.input.shape)
    save_portable(model, x[:1], tmp_path / "m.pt", meta={"input": prof.input.to_dict()})
    back = load_portable(tmp_path / "m.pt")
    # no torcheeg class (and no generated code) in the rebuilt model: torch.nn layers under the step interpreter
    assert type(back) is PortableModule
    assert all(type(m).__module__.startswith("torch.nn.modules") for m in back.modules() if m is not back)
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-6)


@pytest.mark.slow  # a fresh interpreter; the in-process round trips above are the fast tier's form
def test_loads_in_a_process_where_the_class_never_existed(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    class Secret(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(2, 3, 3, padding=1)
            self.gain = nn.Parameter(torch.tensor([1.5, -0.5, 2.0]))

        def forward(self, x):
            return (self.c(x) * self.gain[None, :, None]).mean(-1)

    m = Secret().eval()
    x = torch.randn(4, 2, 8)
    save_portable(m, x[:1], tmp_path / "s.pt")
    torch.save({"x": x, "y": m(x).detach()}, tmp_path / "io.pt")
    root = Path(__file__).resolve().parents[2]
    code = ("import torch; from eegdeploy.models.portable import load_portable; "
            f"d = torch.load({str(tmp_path / 'io.pt')!r}, weights_only=True); "
            f"m = load_portable({str(tmp_path / 's.pt')!r}); "
            "print(float((m(d['x']) - d['y']).abs().max()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) <= 1e-6


def test_parameters_buffers_and_constants_read_by_the_graph(tmp_path):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.randn(3))
            self.register_buffer("offset", torch.randn(3))
            self.register_buffer("mask", (torch.arange(3) > 0).float(), persistent=False)
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x * self.scale * self.mask + self.offset)

    m = Scaled().eval()
    x = torch.randn(5, 3)
    save_portable(m, x[:1], tmp_path / "p.pt")
    obj = torch.load(tmp_path / "p.pt", weights_only=True)
    assert obj["attrs"] == {"scale": {"kind": "parameter"}, "offset": {"kind": "buffer"}, "mask": {"kind": "constant"}}
    assert set(obj["tensors"]) == {"mask"}
    with torch.no_grad():
        assert torch.allclose(load_portable(tmp_path / "p.pt")(x), m(x), atol=1e-7)


def test_recurrent_layers_and_a_bare_layer(tmp_path):
    class Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(12, 2)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    x = torch.randn(3, 7, 4)
    for name, m in (("rec", Rec().eval()), ("gru", nn.GRU(4, 5, batch_first=True).eval())):
        save_portable(m, x[:1], tmp_path / f"{name}.pt")
        with torch.no_grad():
            a, b = m(x), load_portable(tmp_path / f"{name}.pt")(x)
        a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
        assert torch.allclose(a, b, atol=1e-6)


def test_what_cannot_be_stored_fails_at_save_and_writes_nothing(tmp_path):
    from eegdeploy.errors import ParityError

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(3, 2)

        def forward(self, x):
            return self.l(x) if float(x.sum()) > 0 else -self.l(x)

    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(3, 2)

        def forward(self, x):
            return self.l(torch.nn.functional.dropout(x, 0.3))  # dropout even in eval (as torcheeg's GRU does)

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)

        def forward(self, x):
            return self.t(x).mean(1)

    x = torch.randn(1, 3)
    with pytest.raises(UnsupportedLayerError, match="cannot capture Branchy for slim.pt: its forward branches on "
                                                    "tensor values"):
        save_portable(Branchy(), x, tmp_path / "a.pt")
    with pytest.raises(ParityError, match="reloads with outputs"):
        save_portable(Noisy(), x, tmp_path / "b.pt")
    with pytest.raises(UnsupportedLayerError, match=r"layer 't' \(TransformerEncoderLayer\)"):
        save_portable(Attn(), None, tmp_path / "c.pt")  # without an example, only the fx kind can be tried
    assert list(tmp_path.iterdir()) == []
    # with one, the layer torch.fx cannot store goes into an ATen graph
    m, x = Attn().eval(), torch.randn(1, 4, 8)
    save_portable(m, x, tmp_path / "c.pt")
    with torch.no_grad():
        assert (load_portable(tmp_path / "c.pt")(x) - m(x)).abs().max() <= 1e-6


@pytest.mark.parametrize("edit, words", [
    (lambda o: o["graph"].insert(1, {"op": "get_attr", "name": "k", "target": "__class__", "args": {"tuple": []},
                                     "kwargs": {"dict": {}}}), "undeclared tensor"),
    (lambda o: o["attrs"].__setitem__("__class__", {"kind": "constant"}), "plain attribute path"),
    (lambda o: o["modules"].__setitem__("a.__init__", {"type": "Linear", "args": {}}), "plain attribute path"),
    (lambda o: o["graph"][1].__setitem__("args", {"tuple": [{"code": "os.system('x')"}]}), "unknown kind"),
    (lambda o: o["graph"].insert(1, {"op": "call_function", "name": "g", "target": "getattr",
                                     "args": {"tuple": [{"node": "input_1"}, "__class__"]}, "kwargs": {"dict": {}}}),
     "forbidden attribute"),
    (lambda o: o["graph"][1].__setitem__("op", "call_method") or o["graph"][1].__setitem__("target", "__reduce__"),
     "not allowed"),
], ids=["get-attr-undeclared", "attr-dunder", "module-dunder", "arg-kind", "getattr-dunder", "method"])
def test_crafted_files_cannot_reach_other_code(edit, words):
    obj = to_portable(nn.Sequential(nn.Linear(2, 2)))
    edit(obj)
    with pytest.raises(CheckpointError, match=words):
        from_portable(obj)


@pytest.mark.slow
@pytest.mark.parametrize("name", __import__("eegdeploy.config", fromlist=["x"]).list_profiles())
def test_every_shipped_profile_slim_pt_reloads_with_identical_outputs(name, tmp_path):
    """The step interpreter computes bit for bit what the traced slim model computes (same layers, same calls)."""
    prof = load_profile(name)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(3, *prof.input.shape)
    small = slim(model, prune(model, LFPConfig(0.5), example=x[:1]), x[:1])
    try:
        save_portable(small, x[:1], tmp_path / "slim.pt")
    except UnsupportedLayerError as err:  # transformers: fx cannot trace them, so they ship as ONNX only
        pytest.skip(f"{name}: {err}")
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "slim.pt", input_shape=tuple(prof.input.shape)).module(x), small(x))
