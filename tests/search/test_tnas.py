"""NSGA-II over the transformer space: the front is not dominated, points recompute from their plans."""

import pytest
import torch

from eegdeploy.bench import count
from eegdeploy.prune import PrunePlan, slim
from eegdeploy.recover import evaluate
from eegdeploy.search.space import build_space
from eegdeploy.search.tnas import TnasConfig, front_markdown, objectives, tnas_search, uniform_plan, write_tnas
from eegdeploy.search.core import dominates

from tests.search.test_space import TinyViT, X
from tests.search.test_supernet import _splits


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    m = TinyViT().eval()
    sp = build_space(m, X)
    return m, sp, tnas_search(m, sp, _splits(), X, TnasConfig(population=4, generations=1, max_params=0.9))


@pytest.mark.slow
def test_front_is_not_dominated_and_under_the_constraint(run):
    m, sp, res = run
    base = sum(p.numel() for p in m.parameters())
    assert res.baseline["params"] == base
    assert res.chosen in res.front
    for f in res.front:
        assert f.params <= 0.9 * base
        assert not any(dominates(objectives(c, "params"), objectives(f, "params")) for c in res.candidates
                       if c.feasible)
    # the smallest subnet is always evaluated
    assert any(c.genes == sp.smallest() for c in res.candidates)


@pytest.mark.slow
def test_points_recompute_from_their_plans(run, tmp_path):
    m, sp, res = run
    splits = _splits()
    for f in res.front:
        small = slim(m, PrunePlan.from_dict(f.plan), X)
        assert count(small, X, cross_check=False).params == sum(p.numel() for p in small.parameters()) == f.params
        assert evaluate(small, splits.val) == pytest.approx(f.accuracy)
    write_tnas(res, sp, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"front.md", "front.png", "candidates.json", "plan.json"}
    assert "heads / MLP per block" in front_markdown(res, sp)


def test_uniform_plan_keeps_the_same_fraction_everywhere():
    torch.manual_seed(0)
    sp = build_space(TinyViT().eval(), X)
    p = uniform_plan(sp, 0.5)
    # by hand: embedding 8 of 16, 2 heads of 4, MLP 16 of 32
    assert {g: len(k) for g, k in p.keep.items()} == {sp.embedding_group: 8, **{b.heads_group: 2 for b in sp.blocks},
                                                      **{b.hidden_group: 16 for b in sp.blocks}}


@pytest.mark.slow
def test_latency_table_leaves_out_dropped_blocks():
    from eegdeploy.prune import analyse
    from eegdeploy.search.lut import LatencyLUT

    torch.manual_seed(0)
    m = TinyViT().eval()
    sp = build_space(m, X)
    from eegdeploy.prune import layer_masks

    an = analyse(m, X)
    lut = LatencyLUT(m, an, X, batch=2)
    full = sp.largest()
    drop0 = list(full)
    drop0[-2] = 0  # block 0 dropped, widths unchanged
    # the per-layer times are cached by width, so the two sums differ exactly by block 0's layers
    masks = layer_masks(an, sp.plan(full))
    per = {n: lut.layer_ms(n, *masks[n]) for n in lut.inputs}
    left = sum(t for n, t in per.items() if not n.startswith("blocks.0."))
    assert lut.raw_ms(sp.plan(drop0)) == pytest.approx(lut.raw_ms(sp.plan(full)) * left / sum(per.values()))
