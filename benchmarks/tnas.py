"""`python -m benchmarks.tnas [--profile vit-deap] [--data D]`: TNAS-style search vs uniform slimming -> benchmarks/TNAS.md.

One run: trains the profile's baseline, trains a copy as a supernet (sandwich rule), searches it with NSGA-II
(accuracy vs params, at most ``--max-params`` of the baseline), and takes the most accurate front point. Uniform
slimming (one keep fraction in every searched group, top-L1, cut from the trained baseline) is matched to the
searched subnet's params (the largest fraction not above them). Both are fine-tuned with the same budget
(``--finetune`` epochs) and compared with the unpruned baseline: test accuracy, params, MACs, ONNX parity and
onnxruntime CPU latency at batch 64 on one thread, the three models alternating run by run.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="vit-deap")
    ap.add_argument("--data", default=None, help="as for eegdeploy commands (default: the profile's synthetic EEG)")
    ap.add_argument("--epochs", type=int, default=15, help="baseline epochs (default 15: vit-deap stays at chance "
                    "after its profile's 4 on the synthetic EEG)")
    ap.add_argument("--supernet-epochs", type=int, default=4)
    ap.add_argument("--finetune", type=int, default=2, help="fine-tune epochs for searched and uniform alike")
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--max-params", type=float, default=0.5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/TNAS.md")
    args = ap.parse_args(argv)

    from eegdeploy.bench import count
    from eegdeploy.bench.torch_runner import compare_many
    from eegdeploy.config import load_profile
    from eegdeploy.data import load_data
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.io import write_text
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import slim
    from eegdeploy.recover import evaluate, fit
    from eegdeploy.report.render import markdown_table
    from eegdeploy.search.space import build_space
    from eegdeploy.search.supernet import SupernetConfig, train_supernet
    from eegdeploy.search.tnas import TnasConfig, tnas_search, uniform_plan

    t0 = time.time()
    prof = load_profile(args.profile)
    splits = load_data(args.data, prof, seed=args.seed)
    train = replace(prof.train, epochs=args.epochs or prof.train.epochs)
    model = bundle_from_profile(prof, seed=args.seed).module
    fit(model, splits, train, seed=args.seed)
    model.eval()
    x = torch.zeros((1, *prof.input.shape))
    space = build_space(model, x)
    sup = copy.deepcopy(model)
    hist = train_supernet(sup, space, splits, x, SupernetConfig(epochs=args.supernet_epochs, seed=args.seed),
                          train=train)["history"]
    res = tnas_search(sup, space, splits, x, TnasConfig(objective="params", population=args.population,
                                                          generations=args.generations, max_params=args.max_params,
                                                          seed=args.seed))
    best = max(res.front, key=lambda c: (c.accuracy, -c.params))
    searched = slim(sup, space.plan(best.genes), x)
    base_params = count(model, x, cross_check=False).params
    # uniform: the largest keep fraction whose params do not exceed the searched subnet's
    lo, hi = 0.0, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        p = count(slim(model, uniform_plan(space, mid), x, verify=False), x, cross_check=False).params
        lo, hi = (mid, hi) if p <= best.params else (lo, mid)
    keep_u = lo
    uniform = slim(model, uniform_plan(space, keep_u), x)
    ft = replace(train, epochs=args.finetune)
    fit(searched, splits, ft, seed=args.seed)
    fit(uniform, splits, ft, seed=args.seed)
    rows_m = [("unpruned", model), ("searched (supernet + NSGA-II)", searched),
              (f"uniform (keep {100 * keep_u:.1f}% of every group)", uniform)]
    for _, m in rows_m:
        m.eval()
    with tempfile.TemporaryDirectory() as tmp:
        exports = [export_onnx(m, Path(tmp) / f"m{i}.onnx", ExportConfig(), example=x) for i, (_, m) in
                   enumerate(rows_m)]
        lats = compare_many([(m, e.path) for (_, m), e in zip(rows_m, exports)], example=x, batches=(64,), threads=1,
                            iters=args.iters, runtimes=("ort-cpu",), labels=[n for n, _ in rows_m])
    table = []
    base_lat = lats[0].latency_ms["ort-cpu"]["64"]["p50"]
    base_macs = count(model, x, cross_check=False).macs
    for (name, m), e, lat in zip(rows_m, exports, lats):
        c = count(m, x, cross_check=False)
        ms = lat.latency_ms["ort-cpu"]["64"]["p50"]
        table.append([name, f"{100 * evaluate(m, splits.test):.1f}", f"{c.params:,} ({100 * c.params / base_params:.0f}%)",
                      f"{c.macs:,} ({100 * c.macs / base_macs:.0f}%)", f"{e.parity_max_abs:.1e}", f"{ms:.2f}",
                      f"{base_lat / ms:.2f}x"])
    sub = space.decode(best.genes)
    full = space.decode(space.largest())
    cmd = "python -m benchmarks.tnas " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [
        f"# TNAS-style search on {prof.name}", "",
        f"Command: `{cmd.strip()}` ({(time.time() - t0) / 60:.0f} min on 2 shared cores; other work was running, "
        "so latencies are compared within the run, the three models alternating).", "",
        f"Data: {splits.describe()}. Baseline {train.epochs} epochs; supernet {args.supernet_epochs} epochs "
        f"(sandwich rule: largest, smallest, 2 random subnets per batch); NSGA-II population {args.population}, "
        f"{args.generations} generations, at most {100 * args.max_params:.0f}% of the baseline params; "
        f"{len(res.candidates)} subnets evaluated of {space.size():,}, {len(res.front)} on the front. Searched and "
        f"uniform are each fine-tuned {args.finetune} epochs. Accuracy on the test split; latency: onnxruntime CPU, "
        "batch 64, 1 thread, p50.", "",
        markdown_table(["model", "test accuracy %", "params", "MACs", "ONNX parity", "ort ms (b64)", "speedup"],
                       table), "",
        f"Searched subnet: embedding {sub['embedding']} of {full['embedding']}; heads/MLP width per block "
        + ", ".join(f"{s['heads']}/{s['hidden']} (of {f['heads']}/{f['hidden']})" for s, f in zip(sub['blocks'],
                                                                                              full['blocks']))
        + f"; validation accuracy without fine-tuning {100 * best.accuracy:.1f}%.", "",
        "Supernet validation accuracy per epoch (largest / smallest subnet): "
        + ", ".join(f"{100 * h['val_largest']:.0f}/{100 * h['val_smallest']:.0f}" for h in hist) + ".", "",
        f"Depth is not searched: {space.notes[0].split(': ', 1)[-1]}.", "",
    ]
    write_text(Path(args.out), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
