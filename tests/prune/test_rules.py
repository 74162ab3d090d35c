"""The op vocabulary, one exactness test each (slim == masked), the user channel-rule extension point, and the
errors: nothing prunable, unknown ops freezing what they touch."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import UnsupportedLayerError
from eegdeploy.prune import ChannelRule, LFPConfig, analyse, apply_masks, prune, register_channel_rule, slim
from eegdeploy.prune.rules import CHANNEL_RULES


def _check(model, x, ratio=0.5):
    model.eval()
    plan = prune(model, LFPConfig(ratio), example=x[:1])
    small = slim(model, plan, x[:1])
    masked = apply_masks(copy.deepcopy(model), plan, x[:1])
    with torch.no_grad():
        return plan, small, float((small(x) - masked(x)).abs().max())


class Net(nn.Module):
    """conv (8 channels) -> op under test -> conv -> head; ``op`` maps (b, 8, 4, 6) to (b, 8, 4, 6)."""

    def __init__(self, op, norm=None, groups=1):
        super().__init__()
        self.op = op
        self.a = nn.Conv2d(2, 8, 3, padding=1)
        self.norm = norm
        self.b = nn.Conv2d(8, 6, 3, padding=1, groups=groups if groups > 1 else 1)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        y = self.a(x)
        if self.norm is not None:
            y = self.norm(y)
        y = self.op(torch.relu(y))
        return self.head(self.b(y).mean(dim=(2, 3)))


def _gate(y):  # squeeze-and-excitation style: a per-channel gate broadcast over the grid
    return y * torch.sigmoid(y.mean(dim=(2, 3), keepdim=True))


OPS = {
    "transpose-back": lambda y: y.transpose(1, 3).contiguous().transpose(1, 3),
    "permute-back": lambda y: y.permute(0, 2, 3, 1).permute(0, 3, 1, 2),
    "movedim-back": lambda y: torch.movedim(torch.movedim(y, 1, -1), -1, 1),
    "flatten-unflatten": lambda y: y.flatten(2).unflatten(2, (4, 6)),
    "reshape-merge-split": lambda y: y.reshape(y.shape[0], -1).reshape(y.shape),
    "softmax-over-time": lambda y: torch.softmax(y, dim=-1),
    "log-softmax-over-rows": lambda y: F.log_softmax(y, dim=2),
    "reductions-over-time": lambda y: y - y.mean(-1, keepdim=True) + y.var(-1, keepdim=True)
    + y.amax(-1, keepdim=True) + torch.logsumexp(y, -1, keepdim=True) + y.sum(2, keepdim=True),
    "se-gate": _gate,
    "spatial-gate": lambda y: y * torch.sigmoid(torch.linspace(-1, 1, 24).reshape(1, 1, 4, 6)),
    "chunk-glu": lambda y: torch.cat(list(y.chunk(2, dim=1)), dim=1) * torch.cat(y.chunk(2, dim=1)[::-1], 1),
    "matmul-over-grid": lambda y: y @ torch.ones(6, 6) / 6,
    "einsum-over-time": lambda y: torch.einsum("bchw,wv->bchv", y, torch.eye(6)),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_slims_exactly(name):
    torch.manual_seed(0)
    model = Net(OPS[name])
    x = torch.randn(3, 2, 4, 6)
    groups = {g.name: g for g in analyse(model, x[:1]).groups}
    assert groups["a"].prunable, groups["a"].reason
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert small.a.out_channels == 4 and small.b.in_channels == 4


class ChannelsLastLN(nn.Module):
    """LayerNorm over channels: channels last, normalise, back."""

    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, y):
        return self.ln(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("norm", ["layer", "group", "instance", "batch"])
def test_norms(norm):
    torch.manual_seed(0)
    layer = {"layer": None, "group": nn.GroupNorm(4, 8), "instance": nn.InstanceNorm2d(8, affine=True),
             "batch": nn.BatchNorm2d(8)}[norm]
    model = Net(ChannelsLastLN(8)) if norm == "layer" else Net(lambda y: y, norm=layer)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "weight") and isinstance(m, (nn.GroupNorm, nn.InstanceNorm2d, nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1, 1)
    x = torch.randn(3, 2, 4, 6)
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    if norm == "group":  # whole groups of 2 channels go: 4 groups -> 2
        assert plan.sizes["a"] == 4 and small.norm.num_groups == 2 and small.norm.num_channels == 4
    else:
        assert small.a.out_channels == 4


def test_grouped_conv_prunes_whole_groups():
    torch.manual_seed(0)
    model = Net(lambda y: y, groups=2)  # b: 8 -> 6 in 2 groups of 4 inputs, 3 outputs
    x = torch.randn(3, 2, 4, 6)
    groups = {g.name: g for g in analyse(model, x[:1]).groups}
    assert groups["a"].size == 2 and groups["a"].prunable  # a unit = one group of b
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5 and small.b.groups == 1 and small.b.in_channels == 4 and small.b.out_channels == 3


class RNNNet(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.proj = nn.Linear(5, 8)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](8, 7, batch_first=True, bidirectional=True)
        self.head = nn.Linear(14, 2)

    def forward(self, x):
        out, _ = self.rnn(torch.tanh(self.proj(x)))
        return self.head(out[:, -1])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_input_size(kind):
    torch.manual_seed(0)
    model = RNNNet(kind)
    x = torch.randn(3, 6, 5)
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert small.proj.out_features == 4 and small.rnn.input_size == 4 and small.rnn.weight_ih_l0.shape == (
        {"lstm": 28, "gru": 21}[kind], 4)


def test_unknown_op_freezes_and_says_why():
    model = Net(lambda y: torch.roll(y, 1, dims=1))
    groups = {g.name: g for g in analyse(model, torch.zeros(1, 2, 4, 6)).groups}
    assert not groups["a"].prunable and "roll" in groups["a"].reason and "op" not in groups["a"].reason[:3]


def test_nothing_prunable_is_a_clear_error():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 4, 2))
    model[0].register_forward_hook(lambda m, i, o: torch.roll(o, 1, dims=1))
    with pytest.raises(UnsupportedLayerError, match=r"nothing in this model can be pruned.*roll.*model output"):
        prune(model, LFPConfig(0.5), example=torch.zeros(1, 2, 6, 3))


# -- the extension point: a user's layer the analysis cannot see through ----------------------------------------
class SpectralFilter(nn.Module):
    """Per-channel filtering in the frequency domain: rfft over time, a learned gain per channel and frequency."""

    def __init__(self, channels: int, n_time: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.rand(channels, n_time // 2 + 1) + 0.5)

    def forward(self, x):
        f = torch.fft.rfft(x, dim=-1)
        return torch.fft.irfft(f * self.gain[:, None, :], n=x.shape[-1], dim=-1)


class SpectralFilterRule(ChannelRule):
    """Channel i of the output depends on channel i of the input only: cut the gain rows with the channels."""

    def out_channels(self, m):
        return None  # keeps its input's channels

    def prune_in(self, m, keep):
        m.gain = nn.Parameter(m.gain.detach()[keep].clone())

    def mask_in(self, m, drop):
        with torch.no_grad():
            m.gain[drop] = 0


class FilterNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.temporal = nn.Conv2d(1, 6, (1, 5), padding=(0, 2))
        self.filter = SpectralFilter(6, 16)
        self.spatial = nn.Conv2d(6, 4, (3, 1))
        self.head = nn.Linear(4 * 16, 2)

    def forward(self, x):
        return self.head(F.elu(self.spatial(self.filter(self.temporal(x)))).flatten(1))


def test_user_channel_rule(monkeypatch):
    torch.manual_seed(0)
    model = FilterNet().eval()
    x = torch.randn(3, 1, 3, 16)
    groups = {g.name: g for g in analyse(model, x[:1]).groups}
    assert not groups["temporal"].prunable and "fft" in groups["temporal"].reason  # without the rule: frozen
    monkeypatch.setitem(CHANNEL_RULES, SpectralFilter, SpectralFilterRule())
    groups = {g.name: g for g in analyse(model, x[:1]).groups}
    assert groups["temporal"].prunable and "filter" in groups["temporal"].members
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert small.temporal.out_channels == 3 and small.filter.gain.shape == (3, 9) and small.spatial.in_channels == 3
    kept = plan.keep["temporal"]
    assert torch.equal(small.filter.gain, model.filter.gain[kept])


def test_register_channel_rule_checks_its_argument():
    from eegdeploy.errors import ConfigError

    with pytest.raises(ConfigError, match="nn.Module subclass"):
        register_channel_rule("SpectralFilter", SpectralFilterRule())
