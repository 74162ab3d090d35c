"""Per-layer latency lookup table: the latency objective without running the whole model per candidate.

Each conv/linear layer is timed alone in PyTorch (1 thread, batch B) at the kept input/output widths the
candidate gives it, once per distinct width pair (cached); a plan's prediction is the measured time of the whole
full model scaled by Σ layers(plan widths) / Σ layers(full widths). Predictions are checked against
whole-model measurements of the front points, and the error is reported.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.prune.surgery import cut_layer, layer_masks
from eegdeploy.prune.trace import Analysis


def _time(fn, iters: int = 15, warmup: int = 3) -> float:
    """Median milliseconds of ``fn`` on one thread (the caller's thread setting is restored)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    ts.sort()
    return 1000.0 * ts[len(ts) // 2]


class LatencyLUT:
    def __init__(self, model: nn.Module, analysis: Analysis, example: torch.Tensor, batch: int = 16) -> None:
        self.model, self.analysis, self.batch = model.eval(), analysis, batch
        self.inputs: dict[str, torch.Tensor] = {}
        hooks = []
        for name in analysis.layers:
            if analysis.layers[name].kind not in ("conv", "linear"):  # norms, LayerNorms, RNN inputs, user layers
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
            cut_layer(m, lay.kind, keep_in, keep_out)
            x = self.inputs[name]
            if keep_in is not None and lay.kind == "conv":
                x = x[:, torch.from_numpy(keep_in)]
            elif keep_in is not None and lay.kind == "linear":  # features are the last axis (tokens before)
                x = x[..., torch.from_numpy(keep_in)]
            xb = x.expand(self.batch, *x.shape[1:]).contiguous()
            with torch.inference_mode():
                self.cache[key] = _time(lambda: m(xb))
        return self.cache[key]

    scale: float = 1.0
    offset: float = 0.0

    def calibrate(self, pairs: list[tuple[float, float]]) -> None:
        """Least-squares fit measured ≈ scale · raw + offset over (raw prediction, whole-model measurement) pairs
        (the full model and a few uniform plans), so predictions are in measured milliseconds."""
        import numpy as np

        raw = np.array([p[0] for p in pairs]); meas = np.array([p[1] for p in pairs])
        if len(pairs) >= 2 and np.ptp(raw) > 0:
            self.scale, self.offset = (float(v) for v in np.polyfit(raw, meas, 1))
        self.calibration = [{"raw_ms": float(r), "measured_ms": float(m)} for r, m in pairs]

    def predict_ms(self, plan: Any) -> float:
        return self.scale * self.raw_ms(plan) + self.offset

    def raw_ms(self, plan: Any) -> float:
        """The whole model's measured time scaled by Σ layer times at the plan's widths / Σ at full widths: the rest
        of the network (BatchNorm, activations, pooling) shrinks with the channels, and per-call overheads of
        timing layers alone cancel out."""
        from eegdeploy.prune import dropped_blocks

        # layers inside a dropped residual branch (depth) do not run at all
        gone = [br.module for b in dropped_blocks(self.analysis, plan) for br in b.branches]
        layers = 0.0
        for name, (keep_in, keep_out) in layer_masks(self.analysis, plan).items():
            if name in self.inputs and not any(name == g or name.startswith(g + ".") for g in gone):
                layers += self.layer_ms(name, keep_in, keep_out)
        return self.full_ms * (layers / self.layers_full_ms if self.layers_full_ms > 0 else 1.0)

    def measure_ms(self, slim_model: nn.Module, example: torch.Tensor) -> float:
        x = torch.randn((self.batch, *example.shape[1:]))
        with torch.inference_mode():
            return _time(lambda: slim_model.eval()(x))
