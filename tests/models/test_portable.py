import pytest
import torch
import torch.nn as nn

from eegdeploy.config import load_profile
from eegdeploy.errors import CheckpointError, UnsupportedLayerError
from eegdeploy.models import bundle_from_profile, load_model
from eegdeploy.models.portable import from_portable, load_portable, save_portable, to_portable
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
