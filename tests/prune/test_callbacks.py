"""Training callbacks: KeepMasks, KeepStructure and BNSparsity, each on its own and inside fit()."""

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.config import TrainConfig
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.prune import BNSparsity, KeepMasks, KeepStructure, LFPConfig, PrunePlan, apply_masks, prune, slim
from eegdeploy.recover import fit

from .conftest import Depthwise

X1 = torch.zeros(1, 1, 3, 16)


def _splits(n=48):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 1, 3, 16)).astype(np.float32)
    return split_arrays(X, np.arange(n) % 2, None, None, seed=0, val=0.25, test=0.25)


def test_keepmasks_zeroes_masked_entries_after_a_step():
    model = Depthwise()
    mask = torch.rand_like(model.pw.weight) > 0.5
    plan = PrunePlan(method="uwmp", ratio=0.5, kind="unstructured", masks={"pw.weight": mask})
    before = model.pw.weight.detach().clone()
    KeepMasks(plan).after_step(model)
    assert float(model.pw.weight.detach()[~mask].abs().sum()) == 0
    assert torch.equal(model.pw.weight.detach()[mask], before[mask])


@pytest.mark.parametrize("masks", [{"nope.weight": torch.ones(1, dtype=torch.bool)},
                                   {"pw.weight": torch.ones(3, dtype=torch.bool)}])
def test_keepmasks_with_a_plan_for_another_model_is_a_config_error(masks):
    plan = PrunePlan(method="uwmp", ratio=0.5, kind="unstructured", masks=masks)
    with pytest.raises(ConfigError, match="make the plan for this model"):
        KeepMasks(plan).after_step(Depthwise())


def test_keepstructure_keeps_removed_channels_silent_while_the_dense_model_trains():
    model = Depthwise("relu")
    plan = prune(model, LFPConfig(0.5), example=X1)
    apply_masks(model, plan, X1)
    fit(model, _splits(), TrainConfig(epochs=2, batch_size=16, lr=0.01), callbacks=[KeepStructure(plan, X1)], seed=0)
    gone = [i for i in range(6) if i not in plan.keep["pw"]]
    assert float(model.pw.weight.detach()[gone].abs().sum()) == 0
    assert float(model.bn3.weight.detach()[gone].abs().sum()) == 0
    model.eval()
    x = torch.randn(4, 1, 3, 16)
    with torch.no_grad():  # the trained dense model is still exactly its slim version
        assert float((slim(model, plan, X1)(x) - model(x)).abs().max()) <= 1e-5


def test_bnsparsity_adds_the_subgradient_sparsity_times_sign_gamma():
    model = Depthwise()
    with torch.no_grad():
        model.bn3.weight.copy_(torch.tensor([0.5, -0.5, 0.0, 2.0, -1.0, 0.1]))
    norms = [model.bn1, model.bn2, model.bn3]
    x, y = torch.randn(8, 1, 3, 16), torch.arange(8) % 2

    def grads(cb):
        m = copy.deepcopy(model)
        ns = [m.bn1, m.bn2, m.bn3]
        logits = m(x)
        loss = F.cross_entropy(logits, y)
        if cb is not None:
            loss = type(cb)(cb.sparsity, ns).loss(m, x, y, logits, loss)
        loss.backward()
        return [n.weight.grad.clone() for n in ns], [n.bias.grad.clone() for n in ns]

    (g0, b0), (g1, b1) = grads(None), grads(BNSparsity(0.01, norms))
    for n, a, b in zip(norms, g0, g1):
        assert torch.allclose(b - a, 0.01 * torch.sign(n.weight.detach()), atol=1e-7)
    assert all(torch.equal(a, b) for a, b in zip(b0, b1))  # beta is not penalised


def test_bnsparsity_in_fit_shrinks_gammas():
    def total(sparsity):
        torch.manual_seed(0)  # same start, same batches: only the penalty differs
        model = Depthwise()
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        cbs = [BNSparsity(sparsity, norms)] if sparsity else []
        fit(model, _splits(), TrainConfig(epochs=3, batch_size=16, lr=0.01), callbacks=cbs, seed=0)
        return sum(float(m.weight.abs().sum()) for m in norms)

    assert total(0.05) < total(0.0)
