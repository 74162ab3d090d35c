"""Traceable forwards for torcheeg models: same outputs as torcheeg's own forward."""

import torch

from eegdeploy.config import load_profile
from eegdeploy.models import bundle_from_profile
from eegdeploy.models.zoo import import_torcheeg_cnn


def _pair(name):
    prof = load_profile(name)
    ours = bundle_from_profile(prof, seed=0).module.eval()
    cls = getattr(import_torcheeg_cnn(), prof.arch.split(":")[1])
    orig = cls(**dict(prof.arch_kwargs)).eval()
    orig.load_state_dict(ours.state_dict())
    return prof, ours, orig


def test_mtcnn_valence_head_matches_torcheeg_and_runs_at_any_batch():
    prof, ours, orig = _pair("mtcnn-deap")
    x = torch.randn(1, *prof.input.shape)
    with torch.no_grad():
        assert torch.equal(ours(x), orig(x)[0])
        assert ours(torch.randn(5, *prof.input.shape)).shape == (5, 2)


def test_fbcnet_forward_matches_torcheeg():
    prof, ours, orig = _pair("fbcnet-bci")
    x = torch.randn(3, *prof.input.shape)
    with torch.no_grad():
        assert torch.allclose(ours(x), orig(x), atol=1e-6)


# -- names a user would type, list kwargs, parametrizations -------------------------------------------------------
import pytest
import torch.nn as nn
from torch.nn.utils import parametrize

from eegdeploy.errors import ConfigError
from eegdeploy.models import build_model, load_model
from eegdeploy.models.zoo import apply_maxnorm, maxnorm_constraints, resolve_arch


@pytest.mark.parametrize("arch", ["torcheeg:ViT", "torcheeg.models.transformer:ViT", "torcheeg:Conformer",
                                  "torcheeg:CCNN", "torcheeg.models.cnn:EEGNet"])
def test_torcheeg_names_resolve_without_torch_scatter(arch):
    cls = resolve_arch(arch)
    assert cls.__name__ == arch.split(":")[1]


def test_json_lists_become_tuples_for_the_class():
    model = build_model("torcheeg.models.transformer:ViT", {"grid_size": [9, 9], "s_patch_size": [3, 3],
                                                            "chunk_size": 128, "num_classes": 2})
    with torch.no_grad():
        assert model(torch.randn(2, 128, 9, 9)).shape == (2, 2)


class ListNet(nn.Module):
    def __init__(self, widths: list = [4, 6], pool=(2, 2)):  # noqa: B006 - a list default on purpose
        super().__init__()
        assert isinstance(widths, list) and isinstance(pool, tuple)
        self.widths = widths + [3]  # list concatenation: a tuple would raise TypeError
        self.fc = nn.Linear(4, self.widths[-1])

    def forward(self, x):
        return self.fc(x)


def test_list_kept_where_the_class_expects_a_list():
    model = build_model(f"{__name__}:ListNet", {"widths": [4, 5], "pool": [3, 3]})
    assert model.widths == [4, 5, 3]


class MaxNorm(nn.Module):
    def __init__(self, max_norm: float) -> None:
        super().__init__()
        self.max_norm = max_norm

    def forward(self, w):
        return torch.renorm(w, p=2, dim=0, maxnorm=self.max_norm)


class ParamNet(nn.Module):
    """EEGNet-style max-norm written as a parametrization, plus weight norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, (1, 3))
        parametrize.register_parametrization(self.conv, "weight", MaxNorm(0.5))
        self.fc = torch.nn.utils.parametrizations.weight_norm(nn.Linear(4 * 4 * 6, 2))

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_parametrizations_are_baked_and_max_norm_remembered(tmp_path):
    torch.manual_seed(0)
    ref = ParamNet().eval()
    with torch.no_grad():
        ref.conv.parametrizations.weight.original.mul_(10)  # rows above the limit: the constraint bites
    x = torch.randn(3, 1, 4, 8)
    with torch.no_grad():
        want = ref(x)
    torch.save(ref.state_dict(), tmp_path / "sd.pt")  # keys: conv.parametrizations.weight.original, ...
    bundle = load_model(tmp_path / "sd.pt", arch=f"{__name__}:ParamNet", input_shape=(1, 4, 8))
    m = bundle.module
    assert not parametrize.is_parametrized(m.conv) and not parametrize.is_parametrized(m.fc)
    assert type(m.conv.weight) is nn.Parameter and set(dict(m.named_parameters())) == {
        "conv.weight", "conv.bias", "fc.weight", "fc.bias"}
    with torch.no_grad():
        assert torch.allclose(m(x), want, atol=1e-6)
    # the renormed rows have norm 0.5 (by hand: torch.renorm caps each output filter's L2 norm)
    norms = m.conv.weight.detach().flatten(1).norm(dim=1)
    assert torch.all(norms <= 0.5 + 1e-5) and maxnorm_constraints(m) == {"conv": 0.5}
    with torch.no_grad():
        m.conv.weight.mul_(3)
    apply_maxnorm(m)
    assert torch.all(m.conv.weight.detach().flatten(1).norm(dim=1) <= 0.5 + 1e-5)


def test_parametrized_model_slims_exactly():
    from eegdeploy.prune import LFPConfig, prune, slim, verify_slim

    model = build_model(f"{__name__}:ParamNet")
    x = torch.randn(1, 1, 4, 8)
    plan = prune(model, LFPConfig(0.5), example=x)
    small = slim(model, plan, x)
    assert small.conv.out_channels == 2 and verify_slim(model, small, plan, x) <= 1e-6
