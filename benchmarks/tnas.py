"""`python -m benchmarks.tnas [--profile vit-deap] [--data D]`: TNAS-style search vs uniform slimming -> benchmarks/TNAS.md.

One run: trains the profile's baseline, trains a copy as a supernet (sandwich rule), searches it with NSGA-II
(accuracy vs params, at most ``--max-params`` of the baseline), and takes the most accurate front point. Uniform
slimming (one keep fraction in every searched group, top-L1, cut from the trained baseline) is matched to the
searched subnet's params (the largest fraction not above them). Both are fine-tuned with the same budget
(``--finetune`` epochs) and compared with the unpruned baseline: test accuracy, params, MACs, ONNX parity and
onnxruntime CPU latency at batch 64 on one thread, the models alternating run by run. The knee that
``eegdeploy search`` writes to plan.json (what a user compresses by default) is fine-tuned and timed beside them.

Each model is exported twice: as it is, and with the ViT patch embedding as an exact strided convolution
(``eegdeploy.models.patch_embedding_as_conv``; the same form for all three). An onnxruntime profile per operator
type shows where the time goes in each.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def op_shares(path: Path, x: torch.Tensor, runs: int = 10) -> list[tuple[str, float]]:
    """Share of onnxruntime kernel time per operator type (batch 64, 1 thread), largest first."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(path).with_suffix(""))
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    xb = np.random.default_rng(0).standard_normal((64, *x.shape[1:])).astype(np.float32)
    for _ in range(runs):
        sess.run(None, {sess.get_inputs()[0].name: xb})
    events = json.loads(Path(sess.end_profiling()).read_text())
    per = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            per[e["args"]["op_name"]] += e["dur"]
    total = sum(per.values()) or 1
    return [(op, t / total) for op, t in per.most_common()]


def recipe_note(prof, train, data) -> str:
    t = prof.train
    what = (f"{prof.synthetic.n_samples} synthetic samples (see the profile for why)" if data is None else
            f"`{data}`")
    epochs = f"the profile's {t.epochs} epochs" if train.epochs == t.epochs else f"{train.epochs} epochs"
    return f"{epochs} at batch {train.batch_size}, lr {train.lr:g}, on {what}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="vit-deap")
    ap.add_argument("--data", default=None, help="as for eegdeploy commands (default: the profile's synthetic EEG)")
    ap.add_argument("--split", default="random", help="random, trial or subject (as --split of eegdeploy commands)")
    ap.add_argument("--epochs", type=int, default=None, help="baseline epochs (default: the profile's)")
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
    from eegdeploy.search.space import DEPTH_NOTE, build_space
    from eegdeploy.search.supernet import SupernetConfig, train_supernet
    from eegdeploy.search.tnas import FRONT_HEAD, TnasConfig, front_rows, tnas_search, uniform_plan

    t0 = time.time()
    load_start = os.getloadavg()[0]
    prof = load_profile(args.profile)
    splits = load_data(args.data, prof, seed=args.seed, split=args.split)
    train = replace(prof.train, epochs=args.epochs or prof.train.epochs)
    from eegdeploy.models import patch_embedding_as_conv
    model = bundle_from_profile(prof, seed=args.seed).module
    say = lambda m: print(f"[{time.time() - t0:6.0f} s] {m}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"data: {splits.describe()}")
    fit(model, splits, train, seed=args.seed)
    model.eval()
    say(f"baseline: validation {100 * evaluate(model, splits.val):.1f}%, test {100 * evaluate(model, splits.test):.1f}%")
    x = torch.zeros((1, *prof.input.shape))
    space = build_space(model, x)  # L1 order on the baseline: uniform slimming cuts from it
    sup = copy.deepcopy(model)
    sup_space = build_space(sup, x)
    hist = train_supernet(sup, sup_space, splits, x, SupernetConfig(epochs=args.supernet_epochs, seed=args.seed),
                          train=train, progress=lambda e, n, r: say(f"supernet epoch {e}/{n}: {r}"))["history"]
    # train_supernet sorted sup's units by importance: sup_space is in storage order
    res = tnas_search(sup, sup_space, splits, x, TnasConfig(objective="params", population=args.population,
                                                              generations=args.generations,
                                                              max_params=args.max_params, seed=args.seed))
    best = max(res.front, key=lambda c: (c.accuracy, -c.params))
    say("front: " + "; ".join(f"{100 * c.accuracy:.1f}% {c.params:,}" for c in res.front))
    searched = slim(sup, sup_space.plan(best.genes), x)
    base_params = count(model, x, cross_check=False).params
    # uniform: the largest keep fraction whose params do not exceed the searched subnet's
    lo, hi = 0.0, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        p = count(slim(model, uniform_plan(space, mid), x, verify=False), x, cross_check=False).params
        lo, hi = (mid, hi) if p <= best.params else (lo, mid)
    keep_u, keep_up = lo, hi
    uniform = slim(model, uniform_plan(space, keep_u), x)
    uniform_up = slim(model, uniform_plan(space, keep_up), x)  # the next whole-unit width: above the searched params
    ft = replace(train, epochs=args.finetune)
    fit(searched, splits, ft, seed=args.seed)
    fit(uniform, splits, ft, seed=args.seed)
    fit(uniform_up, splits, ft, seed=args.seed)
    rows_m = [("unpruned", model), ("searched (supernet + NSGA-II)", searched),
              (f"uniform (keep {100 * keep_u:.1f}% of every group)", uniform),
              ("uniform, the next whole-unit width up", uniform_up)]
    comparisons = {2, 3}  # uniform rows: comparisons, not products of the search
    if res.chosen is not best:  # the knee plan.json holds, fine-tuned alike
        knee_m = slim(sup, sup_space.plan(res.chosen.genes), x)
        fit(knee_m, splits, ft, seed=args.seed)
        rows_m.append(("knee (`eegdeploy search`'s plan.json)", knee_m))
    for _, m in rows_m:
        m.eval()
    forms = [patch_embedding_as_conv(m, x) for _, m in rows_m]
    with tempfile.TemporaryDirectory() as tmp:
        exports = [export_onnx(m, Path(tmp) / f"m{i}.onnx", ExportConfig(), example=x) for i, (_, m) in
                   enumerate(rows_m)]
        conv_exports = [export_onnx(m, Path(tmp) / f"c{i}.onnx", ExportConfig(), example=x) for i, (m, _) in
                        enumerate(forms)]
        timed = [(m, e.path) for (_, m), e in zip(rows_m, exports)] + \
                [(m, e.path) for (m, _), e in zip(forms, conv_exports)]
        lats = compare_many(timed, example=x, batches=(64,), threads=1, iters=args.iters, runtimes=("ort-cpu",),
                            labels=[n for n, _ in rows_m] + [f"{n} (patch conv)" for n, _ in rows_m])
        shares = [op_shares(e.path, x) for e in (exports[0], exports[1], conv_exports[0], conv_exports[1])]
    ms = [lat.latency_ms["ort-cpu"]["64"]["p50"] for lat in lats]
    n = len(rows_m)
    table = []
    base_macs = count(model, x, cross_check=False).macs
    for i, ((name, m), e, ce) in enumerate(zip(rows_m, exports, conv_exports)):
        c = count(m, x, cross_check=False)
        table.append([name, f"{100 * evaluate(m, splits.test):.1f}",
                      f"{c.params:,} ({100 * c.params / base_params:.0f}%)",
                      f"{c.macs:,} ({100 * c.macs / base_macs:.0f}%)", f"{base_macs / c.macs:.2f}x",
                      f"{max(e.parity_max_abs, ce.parity_max_abs):.1e}", f"{ms[i]:.2f}", f"{ms[0] / ms[i]:.2f}x",
                      f"{ms[n + i]:.2f}", f"{ms[n] / ms[n + i]:.2f}x"])
    targets = []
    for i in range(1, n):
        if i in comparisons:
            continue
        ratio = base_macs / count(rows_m[i][1], x, cross_check=False).macs
        need = 0.8 * ratio
        same, shipped = ms[n] / ms[n + i], ms[0] / ms[n + i]
        targets.append(
            f"- {rows_m[i][0]}: 0.8 x MACs ratio = 0.8 x {ratio:.2f} = **{need:.2f}x**. Measured with the patch "
            f"embedding as a convolution in both models: {same:.2f}x ({'met' if same >= need else 'NOT met'}); "
            f"slim.onnx as `compress` ships it (patch conv) against the unpruned model as exported: {shipped:.2f}x "
            f"({'met' if shipped >= need else 'NOT met'}); both as exported: {ms[0] / ms[i]:.2f}x.")
    input_side = sum(f for op, f in shares[3] if op in ("ReorderInput", "Conv"))
    sub = space.decode(best.genes)
    full = space.decode(space.largest())
    cmd = "python -m benchmarks.tnas " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [
        f"# TNAS-style search on {prof.name}", "",
        f"Command: `{cmd.strip()}` ({(time.time() - t0) / 60:.0f} min on {os.cpu_count()} cores; load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. Latencies are compared only within "
        "the run, all models alternating run by run).", "",
        f"Data: {splits.describe()}. Baseline {train.epochs} epochs; supernet {args.supernet_epochs} epochs "
        f"(sandwich rule: largest, smallest, 2 random subnets per batch); NSGA-II population {args.population}, "
        f"{args.generations} generations, at most {100 * args.max_params:.0f}% of the baseline params; "
        f"{len(res.candidates)} subnets evaluated of {space.size():,}, {len(res.front)} on the front. Searched and "
        f"uniform are each fine-tuned {args.finetune} epochs. Accuracy on the test split; latency: onnxruntime CPU, "
        "batch 64, 1 thread, p50, as exported and with the patch embedding as a convolution (all models alike; "
        "parity is the larger of the two exports').", "",
        markdown_table(["model", "test accuracy %", "params", "MACs", "MACs ratio", "ONNX parity",
                        "ort ms (b64)", "speedup", "ort ms, patch conv", "speedup, patch conv"], table), "",
        "Uniform slimming keeps one fraction of every group; kept counts are whole units (heads, MLP units, "
        "channels), so no fraction lands on the searched subnet's params exactly. The two uniform rows bracket "
        "them: the largest fraction not above them and the next one up (fine-tuned alike).", "",
        "Latency target: speedup >= 0.8 x MACs ratio (MACs include attention's matrix products, as torch's "
        "counter does):", "", *targets, "",
        "Where the time goes (onnxruntime profile, batch 64, 1 thread, share of kernel time per operator type):",
        "",
        markdown_table(["model", "top operator types"],
                       [[label, ", ".join(f"{op} {100 * f:.0f}%" for op, f in sh[:6])] for label, sh in
                        zip(["unpruned, as exported", "searched, as exported", "unpruned, patch conv",
                             "searched, patch conv"], shares)]), "",
        "As exported, the input's patch cut (einops `b (c p0) (h p1) (w p2) -> b c h w (p1 p2 p0)`) is one rank-7 "
        "`Transpose` of the whole input whose innermost output axis is the input's slowest: it does not shrink "
        "with pruning, so it caps the speedup. The same map as a strided `Conv` over time patches folded into the "
        "batch reads the input in place. What stays with it is input-side: onnxruntime reorders the (unpruned) "
        "input into its blocked layout (`ReorderInput`) and the patch convolution reads every input value; in the "
        f"searched subnet these two take {100 * input_side:.0f}% of the time, so the smaller the subnet, the "
        "further its speedup falls below its MACs ratio.", "",
        f"The front ({len(res.front)} points; validation accuracy of each subnet sliced from the supernet, no "
        "fine-tuning; **chosen** is the knee `eegdeploy search` writes to plan.json, *benchmarked* the most accurate "
        "point; both are compared above):", "",
        markdown_table(FRONT_HEAD[:4] + FRONT_HEAD[5:],
                       [([("*benchmarked*" + (", " + r[0] if r[0] != "front" else "")) if c is best else r[0]]
                         + r[1:4] + r[5:]) for c, r in zip(res.front, front_rows(res, uniform=False))]), "",
        f"Searched subnet: embedding {sub['embedding']} of {full['embedding']}; heads/MLP width per block "
        + ", ".join((f"{s['heads']}/{s['hidden']}" if s["kept"] else "dropped") + f" (of {f['heads']}/{f['hidden']})"
                   for s, f in zip(sub['blocks'],
                                                                                              full['blocks']))
        + f"; validation accuracy without fine-tuning {100 * best.accuracy:.1f}%.", "",
        f"Supernet: units of every searched group sorted by importance in storage first (a function-preserving "
        "permutation), so each subnet is a prefix of the shared weights. Validation accuracy per epoch "
        "(largest / smallest subnet): "
        + ", ".join(f"{100 * h['val_largest']:.0f}/{100 * h['val_smallest']:.0f}" for h in hist) + ".", "",
        f"Recipe: {recipe_note(prof, train, args.data)}", "",
        (f"Depth: each block kept or dropped whole ({sup_space.depth_group}); the searched subnet keeps "
         f"{sum(b['kept'] for b in sub['blocks'])} of {len(sub['blocks'])} blocks." if sup_space.depth_group else
         f"Depth is not searched: {DEPTH_NOTE.split(': ', 1)[-1]}."), "",
    ]
    write_text(Path(args.out), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
