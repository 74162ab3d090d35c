"""`python -m eegdeploy.prune.coverage --out docs/coverage.md`: LFP 0.5 on every shipped profile and on every
model in torcheeg's cnn and transformer families that builds with its documented arguments, measured.

For each model: captured or not (and how), channel groups, prunable groups, MACs slim/base (multiply-accumulates
counted by torch's FlopCounterMode, so attention matmuls count), slim-vs-masked parity, whether the slim model
exports to ONNX and runs in onnxruntime with the same outputs, and what is kept whole and why.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

# torcheeg models with their documented arguments (the docstring examples, small where the default is large)
# and the input shape they take. ATCNet cannot be built as shipped (BatchNorm2d(F, False) sets eps=False).
TORCHEEG_CASES: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "ATCNet": ({"in_channels": 1, "num_classes": 4, "num_windows": 3, "num_electrodes": 22, "chunk_size": 1125},
               (1, 22, 1125)),
    "ArjunViT": ({"num_electrodes": 32, "chunk_size": 128, "t_patch_size": 32, "hid_channels": 32, "depth": 3,
                  "heads": 4, "head_channels": 64, "mlp_channels": 64, "num_classes": 2}, (32, 128)),
    "CCNN": ({"num_classes": 2, "in_channels": 4, "grid_size": (9, 9)}, (4, 9, 9)),
    "CSPNet": ({"chunk_size": 1750, "num_electrodes": 22, "num_classes": 4}, (1, 22, 1750)),
    "Conformer": ({"num_electrodes": 32, "sampling_rate": 128, "hid_channels": 40, "depth": 6, "heads": 10,
                   "num_classes": 2}, (1, 32, 128)),
    "DeepSleepNet": ({"num_classes": 5, "chunk_size": 3000, "num_electrodes": 1}, (1, 3000, 1)),
    "EEGNet": ({"chunk_size": 128, "num_electrodes": 32, "F1": 8, "F2": 16, "D": 2, "num_classes": 2,
                "kernel_1": 64, "kernel_2": 16}, (1, 32, 128)),
    "FBCCNN": ({"num_classes": 2, "in_channels": 4, "grid_size": (9, 9)}, (4, 9, 9)),
    "FBCNet": ({"num_electrodes": 20, "chunk_size": 1000, "in_channels": 9, "num_classes": 2}, (9, 20, 1000)),
    "FBMSNet": ({"num_classes": 4, "num_electrodes": 22, "chunk_size": 512, "in_channels": 9}, (9, 22, 512)),
    "LMDA": ({"chunk_size": 1750, "num_electrodes": 22, "num_classes": 4, "depth": 9, "kernel": 75,
              "hid_channels_1": 24, "hid_channels_2": 9}, (1, 22, 1750)),
    "LaBraM": ({"chunk_size": 1600, "patch_size": 200, "num_classes": 2, "embed_dim": 200, "depth": 2,
                "num_heads": 10}, (6, 8, 200)),  # forward also takes electrodes=: see FORWARD_KWARGS
    "MTCNN": ({"num_classes": 2, "in_channels": 8, "grid_size": (8, 9), "dropout": 0.2}, (8, 8, 9)),
    "SSTEmotionNet": ({"temporal_in_channels": 32, "spectral_in_channels": 4, "grid_size": (16, 16),
                       "num_classes": 2}, (36, 16, 16)),
    "STNet": ({"num_classes": 2, "chunk_size": 128, "grid_size": (9, 9)}, (128, 9, 9)),
    "SimpleViT": ({"chunk_size": 128, "grid_size": (9, 9), "t_patch_size": 32, "s_patch_size": (3, 3),
                   "num_classes": 2}, (128, 9, 9)),
    "TCNet": ({"num_classes": 2, "num_electrodes": 22}, (22, 1000)),
    "TSCeption": ({"num_electrodes": 28, "num_classes": 2, "num_T": 15, "num_S": 15, "hid_channels": 32,
                   "sampling_rate": 128}, (1, 28, 512)),
    "TSLANet": ({"chunk_size": 3000, "patch_size": 200, "num_electrodes": 1, "num_classes": 2}, (1, 3000)),
    "TinySleepNet": ({"num_classes": 5, "chunk_size": 3000, "num_electrodes": 1}, (1, 3000, 1)),
    "USleep": ({"num_electrodes": 1, "patch_size": 100, "num_patchs": 30, "num_classes": 5}, (1, 3000)),
    "VanillaTransformer": ({"num_electrodes": 32, "chunk_size": 128, "t_patch_size": 32, "num_classes": 2},
                           (32, 128)),
    "ViT": ({"chunk_size": 128, "grid_size": (9, 9), "t_patch_size": 32, "s_patch_size": (3, 3),
             "num_classes": 2}, (128, 9, 9)),
}
# models whose forward needs more than the EEG tensor: called with these keyword arguments (docstring example)
FORWARD_KWARGS: dict[str, dict[str, Any]] = {
    "LaBraM": {"electrodes": ["FP1", "FPZ", "FP2", "AF9", "AF7", "AF5"]},
}


class WithKwargs(torch.nn.Module):
    """``model(x, **kwargs)`` as a one-input module (what a user does to deploy such a model)."""

    def __init__(self, model: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, **self.kwargs)


@dataclass
class CoverageRow:
    name: str
    arch: str
    built: bool = False
    captured: str = "-"  # export | fx | no
    groups: int = 0
    prunable: int = 0
    macs_ratio: float | None = None
    parity: float | None = None
    onnx: str = "-"
    kept: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    depth: str = "-"  # droppable residual blocks, and LFP + ratio_depth 0.5 measured when there are some

    def slims(self, macs_at_most: float = 0.70, parity_at_most: float = 1e-5) -> bool:
        return (self.macs_ratio is not None and self.macs_ratio <= macs_at_most and self.parity is not None
                and self.parity <= parity_at_most and self.onnx.startswith("ok"))


def flop_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates as torch's FlopCounterMode counts them (conv, linear, matmul, attention) / 2."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(x)
    return int(fc.get_total_flops() // 2)


def _onnx_check(model: torch.nn.Module, x: torch.Tensor) -> str:
    """What ``eegdeploy export`` gives: ``ok`` (TorchScript exporter), ``ok (dynamo)`` when only the fallback
    exporter's graph ran in onnxruntime within 1e-4 of torch, or why it failed."""
    import tempfile
    from pathlib import Path

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "no onnxruntime"
    from eegdeploy.export import ExportConfig, export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        try:
            res = export_onnx(model.eval(), Path(tmp) / "m.onnx", ExportConfig(), example=x)
        except Exception as err:  # reported in the table
            return f"fails: {type(err).__name__}"
    return "ok" if res.exporter == "torchscript" else f"ok ({res.exporter})"


def measure(name: str, arch: str, model: torch.nn.Module, shape: tuple[int, ...], ratio: float = 0.5,
            onnx: bool = True) -> CoverageRow:
    """Capture, LFP at ``ratio``, slim, parity and ONNX for one model (errors are recorded, not raised)."""
    from eegdeploy.prune import LFPConfig, method_analysis, prune, slim, verify_slim

    row = CoverageRow(name, arch, built=True)
    t0 = time.perf_counter()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    try:
        a = method_analysis(model, x[:1], LFPConfig(ratio))  # the groups LFP prunes by default
        row.captured = a.capture
        row.groups, row.prunable = len(a.groups), len(a.prunable())
        row.kept = [f"{g.name} ({g.reason})" for g in a.groups if not g.prunable]
        if not row.prunable:
            row.macs_ratio, row.parity = 1.0, 0.0
        else:
            plan = prune(model, LFPConfig(ratio), example=x[:1])
            small = slim(model, plan, x[:1], verify=False)
            row.parity = verify_slim(model, small, plan, x[:1], inputs=x)
            row.macs_ratio = flop_macs(small, x[:1]) / max(1, flop_macs(model, x[:1]))
            if onnx:
                row.onnx = _onnx_check(small, x[:1])
            if any(g.prunable for g in a.depth):
                row.depth = _depth_cell(model, x, a, ratio, onnx)
            elif a.depth or a.depth_refused:
                row.depth = f"{sum(g.size for g in a.depth)} blocks, none droppable" + (
                    f" ({len(a.depth_refused)} adds not provable)" if a.depth_refused else "")
    except Exception as err:  # a model the engine cannot handle is reported, not hidden
        if row.captured == "-":
            row.captured = "no"
        row.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    row.seconds = time.perf_counter() - t0
    return row


def _depth_cell(model: torch.nn.Module, x: torch.Tensor, a, ratio: float, onnx: bool) -> str:
    """LFP at ``ratio`` plus ``ratio_depth`` 0.5: blocks dropped, MACs slim/base, parity, ONNX."""
    from eegdeploy.prune import LFPConfig, prune, slim, verify_slim

    plan = prune(model, LFPConfig(ratio, ratio_depth=0.5), example=x[:1])
    small = slim(model, plan, x[:1], verify=False)
    parity = verify_slim(model, small, plan, x[:1], inputs=x)
    dropped = sum(plan.sizes[g.name] - len(plan.keep[g.name]) for g in a.depth)
    total = sum(g.size for g in a.depth)
    cell = (f"{dropped} of {total} blocks dropped: MACs {flop_macs(small, x[:1]) / max(1, flop_macs(model, x[:1])):.3f}"
            f", parity {parity:.1e}")
    return cell + (f", ONNX {_onnx_check(small, x[:1])}" if onnx else "")


def torcheeg_rows(names: list[str] | None = None, ratio: float = 0.5, onnx: bool = True) -> list[CoverageRow]:
    from eegdeploy.models.zoo import build_model, check_input

    rows = []
    for name in names or sorted(TORCHEEG_CASES):
        kwargs, shape = TORCHEEG_CASES[name]
        torch.manual_seed(0)
        try:
            model = build_model(f"torcheeg:{name}", kwargs)
            if name in FORWARD_KWARGS:
                model = WithKwargs(model, **FORWARD_KWARGS[name]).eval()
            check_input(model, shape)
        except Exception as err:
            rows.append(CoverageRow(name, f"torcheeg:{name}", error=f"does not build: {str(err)[:160]}"))
            continue
        rows.append(measure(name, f"torcheeg:{name}", model, shape, ratio, onnx))
    return rows


def profile_rows(ratio: float = 0.5, onnx: bool = True) -> list[CoverageRow]:
    from eegdeploy.config import list_profiles, load_profile
    from eegdeploy.models import bundle_from_profile

    rows = []
    for name in list_profiles():
        prof = load_profile(name)
        model = bundle_from_profile(prof, seed=0).module.eval()
        rows.append(measure(name, prof.arch, model, tuple(prof.input.shape), ratio, onnx))
    return rows


def _cells(r: CoverageRow) -> list[str]:
    return [r.name, r.arch, r.captured if r.built else "does not build", str(r.groups) if r.built else "-",
            str(r.prunable) if r.built else "-", "-" if r.macs_ratio is None else f"{r.macs_ratio:.3f}",
            "-" if r.parity is None else f"{r.parity:.1e}", r.onnx, r.depth,
            r.error or "; ".join(r.kept)]


def render(profiles: list[CoverageRow], torcheeg: list[CoverageRow], ratio: float) -> str:
    from eegdeploy.report.render import markdown_table

    head = ["model", "architecture", "captured", "groups", "prunable", "MACs slim/base", "parity", "ONNX",
            "depth (+ ratio_depth 0.5)", "kept whole (why) / error"]
    built = [r for r in torcheeg if r.built]
    ok = [r for r in built if r.slims()]
    return (f"# Slimming coverage\n\nGenerated by `python -m eegdeploy.prune.coverage --out docs/coverage.md` "
            f"(LFP, ratio {ratio}, untrained weights). MACs are counted by torch's FlopCounterMode (conv, linear, "
            "matmul and attention) and halved; parity is max |slim(x) − masked(x)| on random inputs, computed in float64 "
            "(the slim check's precision); ONNX is `eegdeploy export` (TorchScript exporter, then the dynamo exporter as "
            "fallback, opset 17, onnxsim, checked in onnxruntime within 1e-4 of torch): `ok`, or `ok (dynamo)` when "
            "only the fallback's graph passed. The depth "
            "column counts the residual blocks that can be dropped whole (docs/slimming.md, Depth) and, where there "
            "are some, measures the same LFP run with `ratio_depth` 0.5 on top.\n\n"
            "## Shipped profiles\n\n" + markdown_table(head, [_cells(r) for r in profiles]) +
            "\n\n## torcheeg models (cnn and transformer families, documented arguments)\n\n"
            f"{len(built)} of {len(torcheeg)} build; {sum(r.captured in ('export', 'fx') for r in built)} of "
            f"{len(built)} are captured; {len(ok)} of {len(built)} slim to at most 70% of their MACs with parity "
            "at most 1e-5 and a verified ONNX export.\n\n" + markdown_table(head, [_cells(r) for r in torcheeg]) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="docs/coverage.md")
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--models", default="", help="comma-separated torcheeg names (default: all)")
    args = ap.parse_args(argv)
    from eegdeploy.io import write_text

    profiles = profile_rows(args.ratio)
    for r in profiles:
        print(_cells(r)[:8], f"{r.seconds:.1f}s", flush=True)
    names = [n for n in args.models.split(",") if n] or None
    torcheeg = torcheeg_rows(names, args.ratio)
    for r in torcheeg:
        print(_cells(r), f"{r.seconds:.1f}s", flush=True)
    write_text(args.out, render(profiles, torcheeg, args.ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
