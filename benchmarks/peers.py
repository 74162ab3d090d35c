"""`make bench` part 2: Torch-Pruning beside eegdeploy on every shipped profile, written to benchmarks/PEERS.md.

Torch-Pruning 1.6 ``MetaPruner`` with ``MagnitudeImportance(p=1)`` (L1 magnitude) at the same ratio, the
classifier (the Linear layer producing the classes) ignored, against eegdeploy's LFP at that ratio: plain, and as
``compress`` delivers it (round-to 16, rewrites). For each: MACs / baseline, max |onnxruntime - PyTorch| of the
exported model, and onnxruntime speedup over the baseline at batch 64, 1 thread, all models of a profile timed
interleaved in one run. Where Torch-Pruning fails, its error is shown.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np


def _classifier(model, num_classes: int):
    import torch.nn as nn

    lins = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    return lins[-1:] if lins else []


HEAD_ATTRS = ("heads", "num_heads")
QKV_NAMES = ("to_qkv", "qkv", "queries", "keys", "values", "query", "key", "value", "q_proj", "k_proj", "v_proj")


def attention_heads(model) -> tuple[dict, list]:
    """Torch-Pruning's documented attention-head setup: ``num_heads`` maps each q/k/v (or fused qkv) Linear to its
    module's head count; also the (module, attribute, linear) triples to update after pruning, as its ViT example
    does (``m.num_heads = pruner.num_heads[m.qkv]``)."""
    import torch.nn as nn

    num_heads, owners = {}, []
    for m in model.modules():
        attr = next((a for a in HEAD_ATTRS if isinstance(getattr(m, a, None), int)
                     and not isinstance(getattr(m, a), bool)), None)
        if attr is None:
            continue
        for name, child in m.named_children():
            if isinstance(child, nn.Linear) and name in QKV_NAMES:
                num_heads[child] = getattr(m, attr)
                owners.append((m, attr, child))
    return num_heads, owners


def torch_pruning_slim(model, x, ratio: float, num_classes: int):
    """Torch-Pruning L1 at ``ratio``; with attention, whole heads pruned at the same ratio (prune_num_heads)."""
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    num_heads, owners = attention_heads(m)
    heads = dict(num_heads=num_heads, prune_num_heads=True, prune_head_dims=False,
                 head_pruning_ratio=ratio) if num_heads else {}
    pruner = tp.pruner.MetaPruner(m, x, importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=ratio,
                                  ignored_layers=_classifier(m, num_classes), **heads)
    pruner.step()
    for owner, attr, linear in owners:
        setattr(owner, attr, pruner.num_heads[linear])
    with __import__("torch").no_grad():
        m(x)  # a pruned model that no longer runs fails here, with its own error
    return m.eval()


def _error(err: BaseException) -> str:
    text = str(err).splitlines()[0][:90] if str(err) else ""
    return f"{type(err).__name__}: {text}".replace("|", "/")


def peer_row(name: str, ratio: float, rounds: int) -> tuple[list[str], dict]:
    """One profile's row: Torch-Pruning, LFP, LFP + rewrites, compress's default; every model timed interleaved."""
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
    errors: dict[str, str] = {}
    models = {"baseline": base}
    try:
        plan = prune(base, LFPConfig(ratio), example=x)
        models["eegdeploy"] = slim(base, plan, x).eval()
        models["eegdeploy16"] = slim(base, round_plan(plan, base, x, 16), x).eval()
    except Exception as err:  # eegdeploy's own failure is a figure too
        errors["eegdeploy"] = errors["eegdeploy16"] = _error(err)
    try:
        models["torch-pruning"] = torch_pruning_slim(base, x, ratio, len(prof.class_names))
    except Exception as err:  # the peer's own failure is the figure here
        errors["torch-pruning"] = _error(err)
        print(name, "torch-pruning failed:", errors["torch-pruning"], "|",
              traceback.format_exc().splitlines()[-3].strip()[:120], flush=True)
    files, parity, macs = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, m in models.items():
            p = Path(tmp) / f"{label}.onnx"
            try:
                r = export_onnx(m, p, ExportConfig(), example=x, metadata={})
            except Exception as err:
                errors[label] = f"export: {_error(err)}"
                continue
            files[label], parity[label] = p.read_bytes(), r.parity_max_abs
            macs[label] = count(m, x, cross_check=False).macs / base_macs
    applied = {}
    for label in ("eegdeploy", "eegdeploy16"):
        if label in files:
            try:
                rw = rewrite_onnx(files[label], RewriteConfig(batch=64, threads=1))
            except Exception as err:
                errors[label + "+rw"] = f"rewrite: {_error(err)}"
                continue
            files[label + "+rw"], parity[label + "+rw"] = rw.model, max(parity[label], rw.parity_max_abs)
            macs[label + "+rw"] = macs[label]
            applied[label + "+rw"] = [f"{r.kind}:{r.form}" for r in rw.applied]
    t = timings(files, random_input(files["baseline"], 64), threads=1, rounds=rounds)
    ms = {c: {k: float(np.median(v)) for k, v in t[c].items()} for c in t}
    sp = {c: {k: ms[c]["baseline"] / v for k, v in ms[c].items()} for c in ms}

    def cell(label: str) -> list[str]:
        if label in errors:
            return [f"fails: {errors[label]}", "-", "-"]
        if label not in sp["wall"]:
            return ["-", "-", "-"]
        return [f"{macs[label]:.3f}", f"{parity[label]:.1e}", f"{sp['wall'][label]:.2f}x"]

    def speed(label: str, clock: str = "wall") -> str:
        return f"{sp[clock][label]:.2f}x" if label in sp[clock] else (f"fails: {errors[label]}" if label in errors else "-")

    row = [name, f"{ms['wall']['baseline']:.2f}", *cell("torch-pruning"), *cell("eegdeploy"), speed("eegdeploy+rw"),
           speed("eegdeploy16+rw"), speed("eegdeploy16+rw", "cpu")]
    print(name, {k: f"{v:.2f}x" for k, v in sp["wall"].items()}, "cpu", {k: f"{v:.2f}x" for k, v in sp["cpu"].items()},
          "applied", applied, flush=True)
    return row, applied


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/PEERS.md")
    ap.add_argument("--profiles", default="", help="comma-separated (default: every shipped profile)")
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)

    import torch

    from eegdeploy.config import list_profiles

    torch.set_num_threads(1)
    names = args.profiles.split(",") if args.profiles else list_profiles()
    rows = []
    t0 = time.time()
    for name in names:
        rows.append(peer_row(name, args.ratio, args.rounds)[0])
        _write(args, rows, t0)  # after every profile, so an interrupted run keeps what it measured
    print(f"wrote {args.out}")
    return 0


def _write(args: argparse.Namespace, rows: list[list[str]], t0: float) -> None:
    from benchmarks import rewrites
    from eegdeploy.bench import environment
    from eegdeploy.io import write_text
    from eegdeploy.report.render import markdown_table

    env = environment(1)
    header = ["profile", "baseline ms", "TP MACs", "TP parity", "TP speedup", "LFP MACs", "LFP parity",
              "LFP speedup", "LFP + rewrites", "compress default (round-to 16 + rewrites)", "compress default, CPU clock"]
    text = f"""# eegdeploy beside Torch-Pruning

Produced by `{" ".join(["python -m benchmarks.peers", *sys.argv[1:]])}` (part of `make bench`) on {env['cpu']} ({os.cpu_count()} cores), Python
{platform.python_version()}, torch {env['torch']}, onnxruntime {env['onnxruntime']}, in {time.time() - t0:.0f} s.
{rewrites.load_note()}

Torch-Pruning {_tp_version()} (`MetaPruner`, `MagnitudeImportance(p=1)`, ratio {args.ratio:g}, the classifier
ignored; on models with attention, whole heads at the same ratio the way its documentation configures it:
`num_heads` = each q/k/v or fused qkv Linear's head count, `prune_num_heads=True`, `prune_head_dims=False`, the
module's head count updated afterwards) against eegdeploy's LFP at the same ratio (L1 filter norms), on untrained
profile models (latency does not depend on the weights). Every shipped profile (`eegdeploy profiles`) has a row.
MACs are slim/baseline (eegdeploy's counter for both); parity is max |onnxruntime − PyTorch| of each exported
model; speedup is baseline/slim median latency in onnxruntime at batch 64, 1 thread, all models of a row timed
interleaved in one run. "LFP + rewrites" is LFP's slim model after the measured rewrites; "compress default" is
what `compress` delivers: widths rounded to multiples of 16 and the measured rewrites (see RESULTS.md for the
breakdown). The CPU-clock column times the same runs by the CPU time of the thread running the model (one
onnxruntime thread runs the whole model on it): what an idle machine shows, since time spent preempted by other
processes does not count. Where a tool fails, its error is the cell.

{markdown_table(header, rows)}

Reproduce: `python -m benchmarks.peers` (or `--profiles eegnet-deap,ccnn-deap`).
"""
    write_text(args.out, text)


def _tp_version() -> str:
    from importlib.metadata import version

    return version("torch-pruning")


if __name__ == "__main__":
    sys.exit(main())
