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


def _classifier(model, num_classes: int):
    import torch.nn as nn

    lins = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    return lins[-1:] if lins else []


def torch_pruning_slim(model, x, ratio: float, num_classes: int):
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    pruner = tp.pruner.MetaPruner(m, x, importance=tp.importance.MagnitudeImportance(p=1), pruning_ratio=ratio,
                                  ignored_layers=_classifier(m, num_classes))
    pruner.step()
    return m.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/PEERS.md")
    ap.add_argument("--profiles", default="")
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)

    import torch

    from eegdeploy.bench import count, environment
    from eegdeploy.config import list_profiles, load_profile
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.io import write_text
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import LFPConfig, prune, slim
    from eegdeploy.prune.rounding import round_plan
    from eegdeploy.report.render import markdown_table
    from eegdeploy.rewrite import RewriteConfig, rewrite_onnx
    from eegdeploy.rewrite.choose import measure, random_input

    torch.set_num_threads(1)
    names = args.profiles.split(",") if args.profiles else list_profiles()
    rows = []
    t0 = time.time()
    for name in names:
        prof = load_profile(name)
        base = bundle_from_profile(prof, seed=0).module.eval()
        x = torch.zeros(1, *prof.input.shape)
        base_macs = count(base, x, cross_check=False).macs
        plan = prune(base, LFPConfig(args.ratio), example=x)
        ours = slim(base, plan, x).eval()
        ours16 = slim(base, round_plan(plan, base, x, 16), x).eval()
        n_classes = len(prof.class_names)
        try:
            theirs = torch_pruning_slim(base, x, args.ratio, n_classes)
            tp_error = ""
        except Exception as err:  # the peer's own failure is the figure here
            theirs, tp_error = None, f"{type(err).__name__}: {str(err).splitlines()[0][:90] if str(err) else ''}"
            print(name, "torch-pruning failed:", tp_error, "|", traceback.format_exc().splitlines()[-3].strip()[:120])
        with tempfile.TemporaryDirectory() as tmp:
            files, parity, macs = {}, {}, {}
            for label, m in (("baseline", base), ("torch-pruning", theirs), ("eegdeploy", ours), ("eegdeploy16", ours16)):
                if m is None:
                    continue
                p = Path(tmp) / f"{label}.onnx"
                try:
                    r = export_onnx(m, p, ExportConfig(), example=x, metadata={})
                except Exception as err:
                    tp_error = tp_error or f"export: {type(err).__name__}: {str(err)[:90]}"
                    continue
                files[label], parity[label] = p.read_bytes(), r.parity_max_abs
                macs[label] = count(m, x, cross_check=False).macs / base_macs
            rw = rewrite_onnx(files["eegdeploy16"], RewriteConfig(batch=64, threads=1))
            files["eegdeploy16+rw"], parity["eegdeploy16+rw"] = rw.model, max(parity["eegdeploy16"], rw.parity_max_abs)
            macs["eegdeploy16+rw"] = macs["eegdeploy16"]
            ms = measure(files, random_input(files["baseline"], 64), threads=1, rounds=args.rounds)
        sp = {k: ms["baseline"] / v for k, v in ms.items()}

        def cell(label: str) -> list[str]:
            if label not in sp:
                return ["-", "-", "-"]
            return [f"{macs[label]:.3f}", f"{parity[label]:.1e}", f"{sp[label]:.2f}x"]

        tp_cells = cell("torch-pruning") if not tp_error else [f"fails: `{tp_error}`", "-", "-"]
        rows.append([name, f"{ms['baseline']:.2f}", *tp_cells, *cell("eegdeploy"), f"{sp['eegdeploy16+rw']:.2f}x"])
        print(name, {k: f"{v:.2f}x" for k, v in sp.items()}, flush=True)
        _write(args, rows, t0)  # after every profile, so an interrupted run keeps what it measured
    print(f"wrote {args.out}")
    return 0


def _write(args: argparse.Namespace, rows: list[list[str]], t0: float) -> None:
    from eegdeploy.bench import environment
    from eegdeploy.io import write_text
    from eegdeploy.report.render import markdown_table

    env = environment(1)
    header = ["profile", "baseline ms", "TP MACs", "TP parity", "TP speedup", "LFP MACs", "LFP parity",
              "LFP speedup", "compress default (round-to 16 + rewrites)"]
    text = f"""# eegdeploy beside Torch-Pruning

Produced by `{" ".join(["python -m benchmarks.peers", *sys.argv[1:]])}` (part of `make bench`) on {env['cpu']} ({os.cpu_count()} cores), Python
{platform.python_version()}, torch {env['torch']}, onnxruntime {env['onnxruntime']}, in {time.time() - t0:.0f} s;
other work was running on the machine, so compare ratios within a row, not milliseconds across runs.

Torch-Pruning {_tp_version()} (`MetaPruner`, `MagnitudeImportance(p=1)`, ratio {args.ratio:g}, the classifier
ignored) against eegdeploy's LFP at the same ratio (L1 filter norms), on untrained profile models (latency does not
depend on the weights). MACs are slim/baseline (eegdeploy's counter for both); parity is max |onnxruntime −
PyTorch| of each exported model; speedup is baseline/slim median latency in onnxruntime at batch 64, 1 thread, all
models of a row timed interleaved in one run. The last column is what `compress` delivers by default: widths
rounded to multiples of 16 and the measured rewrites (see RESULTS.md for the breakdown).

{markdown_table(header, rows)}

Reproduce: `python -m benchmarks.peers` (or `--profiles eegnet-deap,ccnn-deap`).
"""
    write_text(args.out, text)


def _tp_version() -> str:
    from importlib.metadata import version

    return version("torch-pruning")


if __name__ == "__main__":
    sys.exit(main())
