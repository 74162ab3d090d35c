"""Distillation recovery: the loss against hand-computed values, the blend, training toward the teacher, configs."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import TrainConfig
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.recover import fit
from eegdeploy.recover.distill import Distill, DistillConfig, distillation_loss


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_loss_matches_hand_computed_kl_at_t1():
    # teacher logits (ln 3, 0) -> p = (3/4, 1/4); student logits equal -> q = (1/2, 1/2)
    loss = distillation_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]), 1.0)
    assert float(loss) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), abs=1e-6)


def test_loss_softens_with_temperature_and_scales_by_t_squared():
    # at T = 2 the teacher's odds become sqrt(3) : 1
    p = (math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1))
    loss = distillation_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]), 2.0)
    assert float(loss) == pytest.approx(4 * _kl(p, (0.5, 0.5)), abs=1e-6)


def test_loss_averages_over_the_batch_and_is_zero_on_agreement():
    s = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    t = torch.tensor([[math.log(3.0), 0.0], [1.0, -1.0]])
    assert float(distillation_loss(s, t, 1.0)) == pytest.approx(_kl((0.75, 0.25), (0.5, 0.5)) / 2, abs=1e-6)
    assert float(distillation_loss(t, t, 3.0)) == pytest.approx(0.0, abs=1e-7)


def test_callback_blends_task_loss_and_teacher_term():
    teacher = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        teacher.weight.copy_(torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]]))
    x = torch.tensor([[1.0, 0.0]])  # teacher logits (ln 3, 0)
    student_logits = torch.zeros(1, 2)
    task = torch.tensor(0.8)
    kd = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    for w in (0.0, 0.25, 1.0):
        cb = Distill(teacher, DistillConfig(temperature=1.0, weight=w))
        got = cb.loss(None, x, None, student_logits, task)
        assert float(got) == pytest.approx((1 - w) * 0.8 + w * kd, abs=1e-6)
    # the teacher is a frozen copy: training the original later changes nothing in the callback
    with torch.no_grad():
        teacher.weight.zero_()
    assert float(cb.loss(None, x, None, student_logits, task)) == pytest.approx(kd, abs=1e-6)
    assert not any(p.requires_grad for p in cb.teacher.parameters())


def test_training_with_the_teacher_term_only_pulls_the_student_to_the_teacher():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)  # labels carry no signal: only the teacher can teach
    splits = split_arrays(X, y, None, None, seed=0, val=0.25, test=0.25, source="test")
    teacher, student = nn.Linear(6, 3), nn.Linear(6, 3)
    xt = torch.from_numpy(X)
    before = float(distillation_loss(student(xt), teacher(xt), 2.0))
    fit(student, splits, TrainConfig(epochs=30, batch_size=16, lr=0.05),
        callbacks=[Distill(teacher, DistillConfig(temperature=2.0, weight=1.0))])
    after = float(distillation_loss(student(xt), teacher(xt), 2.0))
    assert after < 0.2 * before


@pytest.mark.parametrize("kw", [{"temperature": 0}, {"temperature": -1.0}, {"temperature": True},
                                {"weight": 1.5}, {"weight": -0.1}, {"weight": "half"}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ConfigError, match="distill-"):
        DistillConfig(**kw)


def test_compress_config_defaults_and_recipe(tmp_path):
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.pipeline import CompressConfig, compress

    cfg = CompressConfig(recover="distill")
    assert cfg.distill == DistillConfig(temperature=4.0, weight=0.5)
    assert CompressConfig(recover="distill", distill={"temperature": 2, "weight": 0.9}).distill.weight == 0.9
    assert CompressConfig(recover="finetune").distill is None

    prof = load_profile("eegnet-bci")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, *prof.input.shape)).astype(np.float32)
    y = np.arange(40) % 2
    splits = split_arrays(X, y, None, None, seed=0, val=0.25, test=0.25, source="test")
    cfg = CompressConfig(recover="distill", distill=DistillConfig(temperature=3.0, weight=0.7), batches=(1,),
                         iters=2, warmup=1, runtimes=("ort-cpu",), rewrite=False,
                         train=TrainConfig(epochs=1, batch_size=16, lr=1e-3))
    r = compress(bundle_from_profile(prof, seed=0), splits, cfg, tmp_path / "out").to_dict()
    assert r["recipe"]["recover"] == "distill"
    assert r["recipe"]["distill"] == {"temperature": 3.0, "weight": 0.7}
    assert r["recipe"]["epochs"] == 1
    assert r["parity"]["slim_vs_pruned_max_abs"] <= 1e-5
