import copy
from dataclasses import replace

import pytest
import torch

from eegdeploy.config import load_profile
from eegdeploy.data import load_data
from eegdeploy.errors import ConfigError
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import LFPConfig, prune, slim
from eegdeploy.recover import evaluate, fit
from eegdeploy.recover.kg import (EvidenceMap, KGConfig, KnowledgeGuided, evidence, evidence_share,
                                  in_region_share, region_mask)

# The class signal sits in prefrontal electrodes; a misleading, unreliable signal sits over parieto-occipital ones.
OPTIONS = {"signal_electrodes": ["Fp1", "AF3", "Fp2", "AF4"],
           "distractor_electrodes": ["O1", "O2", "PO3", "PO4", "P7", "P8"],
           "distractor_strength": 2.0, "distractor_reliability": 0.75}


def _task(name, n, signal=None, lr=None, epochs=4):
    prof = load_profile(name)
    syn = replace(prof.synthetic, n_samples=n, options=OPTIONS, signal=signal or prof.synthetic.signal)
    prof = replace(prof, synthetic=syn)
    splits = load_data(None, prof, seed=0)
    train = replace(prof.train, epochs=epochs, lr=lr or prof.train.lr)
    bundle = bundle_from_profile(prof, seed=0)
    fit(bundle.module, splits, train, seed=0)
    x = torch.zeros(1, *prof.input.shape)
    small = slim(bundle.module.eval(), prune(bundle.module, LFPConfig(0.5), example=x), x)
    return prof, splits, replace(train, epochs=3), small


@pytest.mark.slow
@pytest.mark.parametrize("name, n, weight, signal, lr", [
    ("ccnn-deap", 400, 1.0, None, None),
    ("tsception-deap", 240, 5.0, 1.0, 0.01),
], ids=["grid", "raw"])
def test_kg_recovery_moves_evidence_into_the_region_without_losing_accuracy(name, n, weight, signal, lr):
    prof, splits, train, small = _task(name, n, signal, lr)
    plain = copy.deepcopy(small)
    fit(plain, splits, train, seed=0)
    guided = copy.deepcopy(small)
    cb = KnowledgeGuided(KGConfig("region", weight=weight), prof.input, guided)
    fit(guided, splits, train, seed=0, callbacks=[cb])
    cb.close()
    X, y = splits.test.X, splits.test.y
    share_plain = evidence_share(plain, X, y, prof.input, "prefrontal")
    share_kg = evidence_share(guided, X, y, prof.input, "prefrontal")
    assert share_kg > share_plain
    assert evaluate(guided, splits.test) >= evaluate(plain, splits.test) - 0.01
    assert cb.cost_per_batch_s > 0


def test_kg_loss_is_differentiable_through_the_evidence():
    prof = load_profile("ccnn-deap")
    model = bundle_from_profile(prof, seed=0).module.train()
    ev = EvidenceMap(model, prof.input)
    x = torch.randn(4, *prof.input.shape)
    y = torch.tensor([0, 1, 0, 1])
    share = in_region_share(ev.maps(model(x), y, create_graph=True), region_mask(prof.input, "prefrontal"))
    grads = torch.autograd.grad(share.mean(), [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    ev.close()


def test_sample_mode_and_maps_shapes():
    prof = load_profile("eegnet-deap")
    model = bundle_from_profile(prof, seed=0).module
    splits = load_data(None, replace(prof, synthetic=replace(prof.synthetic, n_samples=60)), seed=0)
    cb = KnowledgeGuided(KGConfig("both", region="frontal-left", weight=0.5), prof.input, model)
    fit(model, splits, replace(prof.train, epochs=1), seed=0, callbacks=[cb])
    cb.close()
    m = evidence(model, splits.test.X, splits.test.y, prof.input)
    assert m.shape == (32,) and (m >= 0).all()


def test_bad_regions():
    spec = load_profile("tsception-deap").input
    with pytest.raises(ConfigError, match="prefrontal"):
        region_mask(spec, "forehead")
    with pytest.raises(ConfigError, match="not among the input's electrodes"):
        region_mask(spec, ["Fz", "Cz"])  # TSCeption's 28 electrodes have no midline sites
    with pytest.raises(ConfigError, match="maps to no electrode"):
        region_mask(load_profile("eegnet-bci").input, "prefrontal")  # C3 and C4 only
    assert int(region_mask(spec, "Fp1,Fp2").sum()) == 2
    assert tuple(region_mask(load_profile("ccnn-deap").input, "prefrontal").shape) == (9, 9)
    with pytest.raises(ConfigError, match="kg mode"):
        KGConfig(mode="everywhere")
