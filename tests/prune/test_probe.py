"""prune/probe.py: groups whose cut the slim model cannot reproduce are found by cutting them, and kept whole."""

from __future__ import annotations

import torch
import torch.nn as nn

from eegdeploy.prune import LFPConfig, channel_groups, prune, slim


class ReadsItsWidth(nn.Module):
    """Two conv branches; the first one's output is reshaped with a width the module holds (``self.width``), not
    one read from the tensor. In the captured graph both reshapes are the same literal sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(2, 8, 3, padding=1)
        self.b = nn.Conv1d(2, 6, 3, padding=1)
        self.width = 8
        self.head_a = nn.Linear(8 * 16, 3)
        self.head_b = nn.Linear(6 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x).reshape(x.shape[0], self.width * x.shape[-1])  # breaks when a's channels are cut
        b = self.b(x).flatten(1)  # follows b's channels
        return self.head_a(a) + self.head_b(b)


def test_a_group_whose_width_forward_reads_from_the_module_is_kept_whole_with_the_reason():
    torch.manual_seed(0)
    model = ReadsItsWidth().eval()
    x = torch.randn(4, 2, 16)
    groups = {g.producers[0]: g for g in channel_groups(model, x[:1])}
    assert not groups["a"].prunable and "slim model cannot cut it" in groups["a"].reason
    assert "RuntimeError" in groups["a"].reason
    assert groups["b"].prunable
    plan = prune(model, LFPConfig(0.5), example=x[:1])
    assert len(plan.keep["b"]) == 3 and plan.keep["a"] == list(range(8))
    assert any(n.startswith("a: kept whole") and "slim model cannot cut it" in n for n in plan.notes)
    small = slim(model, plan, x[:1])  # verified against the masked model
    assert small.b.out_channels == 3 and small.a.out_channels == 8


def test_probing_leaves_the_global_random_state_alone():
    model = ReadsItsWidth().eval()
    x = torch.randn(1, 2, 16)
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    channel_groups(model, x)
    assert torch.equal(torch.rand(3), want)
