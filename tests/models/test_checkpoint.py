from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from eegdeploy.config import load_profile
from eegdeploy.errors import CheckpointError, ConfigError, InputError
from eegdeploy.models import build_model, bundle_from_profile, load_model, save_checkpoint


class TinyNet(nn.Module):
    def __init__(self, width: int = 4, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(width * 4 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


def test_eegdeploy_checkpoint_round_trip(tmp_path) -> None:
    bundle = bundle_from_profile(load_profile("eegnet-deap"))
    path = save_checkpoint(bundle, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # no pickled code in the file
    assert raw["format"] == "eegdeploy-checkpoint" and raw["arch"] == "torcheeg:EEGNet"
    again = load_model(path)
    x = torch.randn(3, 1, 32, 128)
    with torch.no_grad():
        assert torch.equal(bundle.module.eval()(x), again.module(x))
    assert again.profile == "eegnet-deap" and again.input.shape == (1, 32, 128)


def test_state_dict_needs_profile_or_arch(tmp_path) -> None:
    m = build_model("torcheeg:EEGNet", load_profile("eegnet-deap").arch_kwargs)
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="plain state_dict.*--profile"):
        load_model(tmp_path / "sd.pt")
    assert load_model(tmp_path / "sd.pt", profile="eegnet-deap").arch == "torcheeg:EEGNet"


def test_mismatched_state_dict_names_key_and_shapes(tmp_path) -> None:
    m = build_model("torcheeg:EEGNet", {**load_profile("eegnet-deap").arch_kwargs, "F1": 4})
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match=r"'block1.0.weight' has shape \[4, 1, 1, 64\] in the file but \[8, 1, 1, 64\]"):
        load_model(tmp_path / "sd.pt", profile="eegnet-deap")


def test_pickled_module_refused_without_trust(tmp_path) -> None:
    torch.save(TinyNet(), tmp_path / "whole.pt")
    with pytest.raises(CheckpointError, match="pickled Python objects.*--trust-pickle"):
        load_model(tmp_path / "whole.pt", input_shape=(1, 4, 8))
    b = load_model(tmp_path / "whole.pt", input_shape=(1, 4, 8), trust_pickle=True)
    assert b.num_classes == 2


def test_custom_arch_from_module_path(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mynets.py").write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, width=4):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(width*32, 2))\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n")
    m = build_model("mynets:Net", {"width": 4})
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    b = load_model(tmp_path / "sd.pt", arch="mynets:Net", arch_kwargs={"width": 4}, input_shape=(1, 4, 8))
    assert b.input.shape == (1, 4, 8) and b.class_names == ("class-0", "class-1")
    with pytest.raises(InputError, match=r"rejects input shape \[1, 5, 8\]"):
        load_model(tmp_path / "sd.pt", arch="mynets:Net", arch_kwargs={"width": 4}, input_shape=(1, 5, 8))


@pytest.mark.parametrize("content,match", [(b"", "is empty"), (b"\x00garbage" * 10, "cannot read checkpoint")],
                         ids=["empty", "random-bytes"])
def test_bad_files(tmp_path, content: bytes, match: str) -> None:
    f = tmp_path / "bad.pt"
    f.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_model(f, profile="ccnn-deap")


def test_truncated_checkpoint(tmp_path) -> None:
    path = save_checkpoint(bundle_from_profile(load_profile("eegnet-deap")), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_unknown_torcheeg_class() -> None:
    with pytest.raises(ConfigError, match="unknown torcheeg model 'CCNX', expected one of .*'CCNN'.*'ViT'"):
        build_model("torcheeg:CCNX", {})
