"""Per-layer latency lookup table: the latency objective without running the whole model per candidate.

Each conv/linear layer is timed alone in PyTorch (1 thread, batch B) at the kept input/output widths the
candidate gives it, once per distinct width pair (cached); the rest of the model (BatchNorm, activations,
pooling), calibrated once as measured(full model) − Σ layers(full widths), is scaled with the layers' time. Predictions are checked against
whole-model measurements of the front points, and the error is reported.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.prune.surgery import _cut, _masks, removed_units  # noqa: F401  (shared surgery helpers)
from eegdeploy.prune.trace import Analysis


def _time(fn, iters: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return 1000.0 * ts[len(ts) // 2]


class LatencyLUT:
    def __init__(self, model: nn.Module, analysis: Analysis, example: torch.Tensor, batch: int = 16) -> None:
        self.model, self.analysis, self.batch = model.eval(), analysis, batch
        self.inputs: dict[str, torch.Tensor] = {}
        hooks = []
        for name in analysis.layers:
            if analysis.layers[name].kind == "norm":
                continue
            m = model.get_submodule(name)
            def grab(mod: nn.Module, inp: Any, out: Any, n: str = name) -> None:  # must return None
                self.inputs.setdefault(n, inp[0].detach())

            hooks.append(m.register_forward_hook(grab))
        with torch.no_grad():
            model(example[:1])
        for h in hooks:
            h.remove()
        self.cache: dict[tuple[str, int, int], float] = {}
        torch.set_num_threads(1)
        full = torch.randn((batch, *example.shape[1:]))
        with torch.inference_mode():
            whole = _time(lambda: model(full))
        layers = sum(self.layer_ms(n, None, None) for n in self.inputs)
        self.layers_full_ms = layers
        self.overhead_ms = max(0.0, whole - layers)
        self.full_ms = whole

    def layer_ms(self, name: str, keep_in: Any, keep_out: Any) -> float:
        lay = self.analysis.layers[name]
        n_in = int(keep_in.sum()) if keep_in is not None else -1
        n_out = int(keep_out.sum()) if keep_out is not None else -1
        key = (name, n_in, n_out)
        if key not in self.cache:
            m = copy.deepcopy(self.model.get_submodule(name))
            _cut(m, lay.kind, keep_in, keep_out)
            x = self.inputs[name]
            if keep_in is not None and lay.kind == "conv":
                x = x[:, torch.from_numpy(keep_in)]
            elif keep_in is not None and lay.kind == "linear":
                x = x[:, torch.from_numpy(keep_in)]
            xb = x.expand(self.batch, *x.shape[1:]).contiguous()
            with torch.inference_mode():
                self.cache[key] = _time(lambda: m(xb))
        return self.cache[key]

    def predict_ms(self, plan: Any) -> float:
        """Σ layer times at the plan's widths, plus the rest (BatchNorm, activations, pooling), which shrinks with
        the channels: scaled by the same factor as the layers."""
        layers = 0.0
        for name, (keep_in, keep_out) in _masks(self.analysis, plan).items():
            if name in self.inputs:
                layers += self.layer_ms(name, keep_in, keep_out)
        return layers + self.overhead_ms * (layers / self.layers_full_ms if self.layers_full_ms > 0 else 1.0)

    def measure_ms(self, slim_model: nn.Module, example: torch.Tensor) -> float:
        x = torch.randn((self.batch, *example.shape[1:]))
        with torch.inference_mode():
            return _time(lambda: slim_model.eval()(x))
