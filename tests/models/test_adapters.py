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
