"""Rewrites and hardware-friendly widths, measured: one profile's variants timed interleaved in one onnxruntime run.

Variants (LFP at ``ratio``, untrained weights, batch 64, 1 thread by default): the baseline as exported, the
baseline rewritten (rewrites alone), the slim model with plain widths (pruning only) and rewritten, and the slim
model with widths rounded to multiples of 8 and 16, each rewritten. ``compress``'s defaults are round-to 16 with
rewrites on; this table is where that default comes from.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VARIANTS = ("baseline", "baseline+rw", "slim", "slim+rw", "slim8+rw", "slim16", "slim16+rw")


@dataclass
class RewriteBench:
    profile: str
    macs: dict[str, float]  # variant -> MACs / baseline MACs
    ms: dict[str, float]  # variant -> median ms (wall clock)
    cpu: dict[str, float]  # variant -> median ms (CPU time of the thread running the model), same runs
    applied: dict[str, list[str]]  # variant -> "kind:form" of each applied rewrite
    parity: dict[str, float]  # variant -> rewritten vs unrewritten max abs

    def speedup(self, variant: str, clock: str = "wall") -> float:
        t = self.ms if clock == "wall" else self.cpu
        return t["baseline"] / t[variant]


def bench_profile(name: str, *, ratio: float = 0.5, batch: int = 64, threads: int = 1, rounds: int = 20) -> RewriteBench:
    import torch

    from eegdeploy.bench import count
    from eegdeploy.config import load_profile
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import LFPConfig, prune, slim
    from eegdeploy.prune.rounding import round_plan
    from eegdeploy.rewrite import RewriteConfig, rewrite_onnx
    from eegdeploy.rewrite.choose import random_input, timings

    prof = load_profile(name)
    base = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.zeros(1, *prof.input.shape)
    base_macs = count(base, x, cross_check=False).macs
    plan = prune(base, LFPConfig(ratio), example=x)
    models: dict[str, bytes] = {}
    macs: dict[str, float] = {}
    applied: dict[str, list[str]] = {}
    parity: dict[str, float] = {}
    rcfg = RewriteConfig(batch=batch, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        for label, module in (("baseline", base), *((f"slim{m if m > 1 else ''}",
                                                     slim(base, round_plan(plan, base, x, m), x).eval())
                                                    for m in (1, 8, 16))):
            path = Path(tmp) / f"{label}.onnx"
            export_onnx(module, path, ExportConfig(), example=x, metadata={})
            macs[label] = macs[f"{label}+rw"] = count(module, x, cross_check=False).macs / base_macs
            if f"{label}+rw" in VARIANTS:
                res = rewrite_onnx(path, rcfg)
                models[f"{label}+rw"] = res.model
                applied[f"{label}+rw"] = [f"{r.kind}:{r.form}" for r in res.applied]
                parity[f"{label}+rw"] = res.parity_max_abs
            if label in VARIANTS:
                models[label] = path.read_bytes()
    t = timings({k: models[k] for k in VARIANTS}, random_input(models["baseline"], batch), threads=threads,
                rounds=rounds)
    med = {c: {k: float(np.median(v)) for k, v in t[c].items()} for c in t}
    return RewriteBench(name, {k: macs[k] for k in VARIANTS}, med["wall"], med["cpu"], applied, parity)


def rows(results: list[RewriteBench]) -> tuple[list[str], list[list[str]]]:
    header = ["profile", "MACs slim/base", "pruning only", "+ rewrites", "round-to 8 + rewrites",
              "round-to 16 (MACs)", "round-to 16 + rewrites", "rewrites alone (unpruned)",
              "round-to 16 + rewrites, CPU clock", "rewrites alone, CPU clock"]
    out = []
    for r in results:
        out.append([r.profile, f"{r.macs['slim']:.3f}", f"{r.speedup('slim'):.2f}x", f"{r.speedup('slim+rw'):.2f}x",
                    f"{r.speedup('slim8+rw'):.2f}x", f"{r.speedup('slim16'):.2f}x ({r.macs['slim16']:.3f})",
                    f"**{r.speedup('slim16+rw'):.2f}x**", f"{r.speedup('baseline+rw'):.2f}x",
                    f"{r.speedup('slim16+rw', 'cpu'):.2f}x", f"{r.speedup('baseline+rw', 'cpu'):.2f}x"])
    return header, out


def applied_rows(results: list[RewriteBench]) -> tuple[list[str], list[list[str]]]:
    header = ["profile", "variant", "rewrites applied", "max abs vs unrewritten"]
    out = []
    for r in results:
        for v in ("baseline+rw", "slim16+rw"):
            forms: dict[str, int] = {}
            for a in r.applied[v]:
                forms[a] = forms.get(a, 0) + 1
            out.append([r.profile, v, ", ".join(f"{k} x{n}" if n > 1 else k for k, n in forms.items()) or "none",
                        f"{r.parity[v]:.1e}"])
    return header, out


def load_note() -> str:
    """The machine's load while the run went (os.getloadavg), so a reader knows how noisy the milliseconds are."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "Load average unavailable; compare ratios within a row."
    busy = "other work was running on the machine" if five > 1.5 else "the machine was otherwise quiet"
    return (f"Load average when this file was written: {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores: "
            f"{busy}, so compare ratios within a row, not milliseconds across runs.")
