"""Compression versus accuracy on realistic synthetic EEG, written to benchmarks/ACCURACY.md.

    python -m benchmarks.accuracy            # the full table (trial-wise 3-fold, finetune / scratch / distill)
    python -m benchmarks.accuracy --quick    # a small, noisy version in minutes (reports/accuracy-quick/ACCURACY.md)
    python -m benchmarks.accuracy --backend ray

The models run one after another; the local backend trains each model's fold baselines and runs its cells in
``--jobs`` processes (default 2, one per core), Ray spreads them over the cluster instead. Both give the same
accuracies (every cell seeds itself). The recovery modes of one (method, ratio, fold) share its pruning (the sweep's
prune cache): SFP and NSFP train once per setting, not once per recovery mode.

For each model (ccnn-deap, tsception-deap, eegnet-deap) it trains one baseline per fold on that fold's training
part (so no test trial was ever seen), then runs the sweep machinery (``eegdeploy.sweep``: lfp, sfp, nsfp and uwmp
x recoveries x ratios, resumable, local or Ray) on ``--data synthetic:realistic`` with the same folds, and reports
per model the largest FLOPs and params reductions whose mean accuracy stays within 0.5 points of the baseline's
mean. A knowledge-guided (frontal region) recovery is run beside plain recovery for LFP and compared in the same
file. Work folders (checkpoints, cells, sweep.json) live under --work, so an interrupted run resumes; the data
sets are cached on disk (``eegdeploy.data.realistic``), and one baseline per fold serves every cell of that fold.
Cells time ort-cpu only and skip the timed ONNX rewrites (benchmarks/RESULTS.md measures those): this table is
about accuracy, and the rewrites do not change it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

MODELS = ("ccnn-deap", "tsception-deap", "eegnet-deap")
TOLERANCE = 0.005  # "without accuracy loss": within 0.5 points of the baseline


@dataclass(frozen=True)
class Plan:
    """One benchmark setting; the quick one trades statistical power for minutes, with the same data and recipe."""

    data: dict[str, str]  # per model: tsception's 4 s windows need longer trials than the 1 s models
    split: str  # sweep protocol: holdout or trial (k-fold)
    folds: int
    holdout_split: str
    methods: tuple[str, ...]
    recovers: tuple[str, ...]
    ratios: tuple[float, ...]
    epochs: int | None  # recovery epochs per cell (None: the profile's)
    kg_ratios: tuple[float, ...]
    iters: int
    batches: tuple[int, ...]
    runtimes: tuple[str, ...] = ("ort-cpu",)
    rewrite: bool = False
    baseline_epochs: tuple[tuple[str, int], ...] = ()  # per model: baseline epochs instead of the profile's


# The profiles' recipes (8-10 epochs) are sized for the easy task. On the realistic one, in the trial-wise 3-fold
# protocol, they leave EEGNet at chance (53.5 / 55.6 / 54.6 % on the three folds) and TSCeption at 55.1 % on fold 2;
# with 40 epochs EEGNet reached 66.4 % on fold 1, and TSCeption 78.0 % on fold 2 with 20 (measured, seed 0). The
# baselines get those longer recipes; CCNN's 10 epochs already give 75-77 %.
BASELINE_EPOCHS = (("eegnet-deap", 30), ("tsception-deap", 16))


# One data set per model for both plans (so the quick run reuses the full run's cache): 8 simulated subjects x
# 40 trials, 8 s of each (8 one-second windows for CCNN and EEGNet, 2 four-second windows for TSCeption). With 4 s
# per trial CCNN's 6.2 M parameters overfit and EEGNet did not learn the effect; with 12 s TSCeption passed 80 %.
DATA = {"ccnn-deap": "synthetic:realistic:subjects=8,trials=40,seconds=8",
        "eegnet-deap": "synthetic:realistic:subjects=8,trials=40,seconds=8",
        "tsception-deap": "synthetic:realistic:subjects=8,trials=40,seconds=8"}
FULL = Plan(data=DATA, split="trial", folds=3, holdout_split="trial", methods=("lfp", "sfp", "nsfp", "uwmp"),
            recovers=("finetune", "scratch", "distill"), ratios=(0.5, 0.8), epochs=3, kg_ratios=(0.8,), iters=3,
            batches=(64,), baseline_epochs=BASELINE_EPOCHS)
QUICK = Plan(data=DATA, split="holdout", folds=1, holdout_split="trial", methods=("lfp", "sfp", "nsfp", "uwmp"),
             recovers=("finetune",), ratios=(0.5, 0.8), epochs=2, kg_ratios=(0.8,), iters=3, batches=(64,),
             baseline_epochs=BASELINE_EPOCHS)  # 2 epochs: SFP and NSFP prune in as many, within 10 minutes


def train_baseline(name: str, plan: Plan, path: Path, fold: int, seed: int) -> str:
    """The baseline of one fold, trained on the fold's train/val parts with the profile's recipe, saved to ``path``;
    returns the line to print (module level: the baselines of a model's folds train in parallel processes)."""
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile, save_checkpoint
    from eegdeploy.recover import evaluate, fit
    from eegdeploy.sweep import cell_splits

    import torch

    torch.set_num_threads(1)  # as the cells do: one thread per process, processes in parallel
    profile = load_profile(name)
    # baselines get the profile's full recipe, or the plan's longer one: an undertrained baseline is no reference
    recipe = replace(profile.train, epochs=dict(plan.baseline_epochs).get(name, profile.train.epochs))
    spec = {"data": plan.data[name], "seed": seed, "split": plan.split, "folds": plan.folds,
            "holdout_split": plan.holdout_split}
    splits = cell_splits(spec, fold, profile)
    bundle = bundle_from_profile(profile, seed=seed)
    t0 = time.time()
    res = fit(bundle.module, splits, recipe, seed=seed)
    acc = evaluate(bundle.module, splits.test)
    bundle.metadata.update({"trained_on": splits.source, "test_accuracy": acc, "seed": seed,
                            "best_val_accuracy": res.best_val_accuracy, **splits.sizes()})
    save_checkpoint(bundle, path)
    return f"{name} fold {fold}: baseline {100 * acc:.1f}% on {splits.describe()} ({time.time() - t0:.0f} s)"


def train_baselines(names: list[str], plan: Plan, work: Path, seed: int, say, jobs: int = 1
                    ) -> tuple[dict[str, dict[str, str]], int]:
    """Every model's fold baselines (reused if present), ``jobs`` at a time: {model: {fold: checkpoint path}} and
    how many were reused."""
    from eegdeploy.sweep import run_in_processes

    folds = range(plan.folds if plan.split != "holdout" else 1)
    paths = {(name, fold): work / name / f"baseline-f{fold}.pt" for name in names for fold in folds}
    todo = [key for key, path in paths.items() if not path.exists()]
    for (name, fold), path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if (name, fold) not in todo:
            say(f"{name} fold {fold}: baseline reused from {path} (an earlier run of the same command)")
    tasks = [(name, plan, paths[(name, fold)], fold, seed) for name, fold in todo]
    run_in_processes(train_baseline, tasks, min(jobs, len(tasks)), lambda i, line: say(line))
    out = {name: {str(fold): str(paths[(name, fold)].resolve()) for fold in folds} for name in names}
    return out, len(paths) - len(todo)


def run_model(name: str, plan: Plan, work: Path, seed: int, backend: str, say, ckpts: dict[str, str],
              jobs: int = 1) -> dict[str, Any]:
    """One model's sweep and knowledge-guided sweep from its fold baselines ``ckpts``; ``jobs`` processes at a time
    (local backend)."""
    from eegdeploy.sweep import SweepConfig, sweep

    import json

    work.mkdir(parents=True, exist_ok=True)
    before = {kind: sum(1 for c in json.loads((work / kind / "sweep.json").read_text())["cells"].values()
                        if "failed" not in c) if (work / kind / "sweep.json").exists() else 0 for kind in ("sweep", "kg")}
    base = {"checkpoint": ckpts["0"], "checkpoints": ckpts, "model": ckpts["0"], "profile": name, "data": plan.data[name],
            "seed": seed, "epochs": plan.epochs, "split": plan.split, "folds": plan.folds,
            "holdout_split": plan.holdout_split, "iters": plan.iters, "batches": list(plan.batches), "threads": 1,
            "method_options": {}, "runtimes": list(plan.runtimes), "rewrite": plan.rewrite}
    cfg = SweepConfig(methods=plan.methods, ratios=plan.ratios, recovers=plan.recovers, epochs=plan.epochs,
                      seed=seed, folds=plan.folds, split=plan.split, iters=plan.iters, batches=plan.batches,
                      backend=backend, jobs=jobs if backend == "local" else 1)
    table = sweep({**base, "out": str((work / "sweep").resolve())}, cfg, progress=lambda m: say(f"{name}: {m}"))
    kg_cfg = replace(cfg, methods=("lfp",), ratios=plan.kg_ratios, recovers=("finetune",))
    kg = {"mode": "region", "region": "frontal", "weight": 1.0}
    kg_table = sweep({**base, "out": str((work / "kg").resolve()), "kg": kg}, kg_cfg,
                     progress=lambda m: say(f"{name} (kg): {m}"))
    kg_cells = json.loads((work / "kg" / "sweep.json").read_text())["cells"]
    return {"table": table, "kg_table": kg_table, "kg_cells": kg_cells, "cell_seconds": cell_seconds(work),
            "reused": {"cells": before["sweep"] + before["kg"]}}


def cell_seconds(work: Path) -> list[float]:
    """Wall time of every finished cell (the stage timings its report.json records)."""
    import json

    out = []
    for rep in sorted(work.glob("*/cells/*/report.json")):
        try:
            out.append(float(sum(json.loads(rep.read_text())["timings_s"].values())))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def best_within(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The row with the largest ``key`` reduction whose mean accuracy is within TOLERANCE of its baseline."""
    ok = [r for r in rows if r["accuracy"] >= r["baseline_accuracy"] - TOLERANCE - 1e-12]
    return max(ok, key=lambda r: (r[key], r["accuracy"])) if ok else None


def _pm(mean: float, std: float, n: int) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if n > 1 else f"{100 * mean:.1f}"


def _mean_std(vals: list[float]) -> tuple[float, float]:
    m = sum(vals) / len(vals)
    return m, (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0


def to_markdown(results: dict[str, dict[str, Any]], plan: Plan, quick: bool, seconds: float, backend: str,
                seed: int, run: dict[str, Any] | None = None) -> str:
    from eegdeploy.bench import environment
    from eegdeploy.report.render import markdown_table

    env = environment(1)
    protocol = (f"trial-wise {plan.folds}-fold (each fold's test trials unseen by its baseline; mean ± std over "
                f"folds)" if plan.split == "trial" else f"one {plan.holdout_split}-wise holdout split "
                "(70/15/15 % of trials; no ± without folds)")
    cmd = "python -m benchmarks.accuracy" + (" --quick" if quick else "") + (
        f" --backend {backend}" if backend != "local" else "")
    lines = ["# Compression versus accuracy on realistic synthetic EEG", ""]
    if (run or {}).get("partial"):
        lines += ["**PARTIAL**: written by `--collect` from the cells finished so far; a row's n counts the folds "
                  "that finished; the run's total time, CPU and load were not recorded (each cell's time was).", ""]
    if quick:
        lines += ["**QUICK RUN** (`--quick`): small data, few epochs, one split. The accuracies are noisy (a few dozen "
                  "test trials); use it to see the machinery work, not to rank methods. The full table comes from "
                  "`python -m benchmarks.accuracy`.", ""]
    run = run or {}
    cells = [t for res in results.values() for t in res.get("cell_seconds", [])]
    reused = [res["reused"] for res in results.values() if res.get("reused")]
    reused_note = ""
    n_base = run.get("reused_baselines", 0)
    if reused and (sum(r["cells"] for r in reused) or n_base):
        reused_note = (f" {sum(r['cells'] for r in reused)} cells and {n_base} baselines "
                       "had been finished by earlier, interrupted runs of the same command (resumed from its work "
                       "folder): the wall and CPU times above are this invocation's alone; the cell times count "
                       "every cell.")
    load = run.get("load")
    took = f"in {seconds / 60:.1f} min wall" if not run.get("partial") else "(cells finished before it was stopped)"
    lines += [f"Produced by `{cmd}` {took} on {env.get('cpu') or platform.processor()} "
              f"({os.cpu_count()} cores), seed {seed}"
              + ("" if run.get("partial") else ", cells spread by Ray over its CPUs" if backend == "ray" else
                 f", {run['jobs']} process(es) at a time" if run.get("jobs") else "") + "."
              + (f" Load average {load[0]:.1f} at the start and {load[1]:.1f} at the end (1-minute, {os.cpu_count()} "
                 "cores; the run's own processes count in it)." if load else "")
              + (f" CPU time of this run and its workers: {run['cpu_s'] / 60:.1f} min"
                 + (" (Ray's workers not counted)." if backend == "ray" else ".") if run.get("cpu_s") else "")
              + (f" Cells (compress runs) took {sum(cells) / len(cells):.0f} s on average (min {min(cells):.0f}, max "
                 f"{max(cells):.0f}, {len(cells)} cells, wall clock)." if cells else "")
              + reused_note, "",
              "- Data (see docs/data.md: simulated DEAP recordings with a weak frontal alpha asymmetry / temporal gamma "
              "valence effect and rating noise): " + "; ".join(f"{m}: `--data {d}`" for m, d in plan.data.items()
                                                              if m in results) + ".",
              f"- Protocol: {protocol}.",
              f"- Grid: methods {', '.join(plan.methods)} × recovery {', '.join(plan.recovers)} × ratios "
              f"{', '.join(f'{r:g}' for r in plan.ratios)}; epochs "
              f"{plan.epochs if plan.epochs is not None else 'as in each profile'} per recovery; baselines are "
              "trained with each profile's recipe (best validation epoch kept; "
              + ", ".join(f"{m} {e} epochs" for m, e in plan.baseline_epochs if m in results)
              + " instead of the profile's 8-10, which leave them near chance on this task), one per fold on that "
              "fold's training trials, and shared by every cell of the fold. Recovery: finetune keeps the pruned "
              "weights, scratch re-initialises the slim network, distill fine-tunes against the unpruned baseline "
              "as teacher (`--recover distill`, temperature and weight at their defaults).",
              "- Reductions are against the unpruned baseline; FLOPs as counted by eegdeploy.bench (fvcore convention, "
              "one FLOP per MAC); params − counts non-zero parameters for uwmp (unstructured: dense FLOPs and "
              "latency do not drop). Speedup: onnxruntime CPU, 1 thread, largest batch, timed beside the baseline.",
              f"- \"Within 0.5 points\": mean accuracy ≥ mean baseline accuracy − 0.5 points.", ""]
    summary = []
    for name, res in results.items():
        rows = res["table"]["rows"]
        if not rows:
            summary.append([name, "-", "no finished cells", "-", "-"])
            continue
        base, base_sd = rows[0]["baseline_accuracy"], rows[0]["baseline_accuracy_std"]
        for key, what in (("flops_reduction", "FLOPs"), ("params_reduction", "params")):
            b = best_within(rows, key)
            if b is None or b[key] <= 0:
                top = max(rows, key=lambda r: r["accuracy"])
                summary.append([name, what, _pm(base, base_sd, rows[0]["n"]), "none within 0.5 points",
                                f"best accuracy {_pm(top['accuracy'], top['accuracy_std'], top['n'])} "
                                f"({top['method']} {top['ratio']:g} {top['recover']})"])
            else:
                summary.append([name, what, _pm(base, base_sd, b["n"]), f"−{100 * b[key]:.1f}%",
                                f"{b['method']} {b['ratio']:g} {b['recover']}: "
                                f"{_pm(b['accuracy'], b['accuracy_std'], b['n'])} % "
                                f"(FLOPs −{100 * b['flops_reduction']:.1f}%, params −{100 * b['params_reduction']:.1f}%)"])
    lines += ["## Highest resource saving without accuracy loss", "",
              markdown_table(["model", "reduction of", "baseline accuracy %", "largest reduction within 0.5 points",
                              "setting: accuracy"], summary), ""]
    lines += [seventy_five(results), ""]
    if quick and cells:
        per_model = (FULL.folds * len(FULL.methods) * len(FULL.recovers) * len(FULL.ratios)
                     + 2 * FULL.folds * len(FULL.kg_ratios))  # a knowledge-guided cell trains twice
        total = per_model * len(results)
        hours = total * (sum(cells) / len(cells)) / max(1, (run.get("jobs") or 1)) / 3600
        lines += [f"The full plan runs {per_model} cells per model ({total} in all, knowledge-guided cells counted "
                  f"twice) plus {FULL.folds} baselines each: at this run's mean cell time and parallelism, about "
                  f"{hours:.1f} h under the same load, before its {FULL.epochs} recovery epochs (here {plan.epochs}) "
                  "and the teacher's forward passes for distill add to each cell.", ""]
    for name, res in results.items():
        rows = res["table"]["rows"]
        lines += [f"## {name}", ""]
        body = [[r["method"], f"{r['ratio']:g}", r["recover"], r["n"], _pm(r["accuracy"], r["accuracy_std"], r["n"]),
                 _pm(r["baseline_accuracy"], r["baseline_accuracy_std"], r["n"]),
                 f"{100 * (r['accuracy'] - r['baseline_accuracy']):+.1f}", f"{100 * r['flops_reduction']:.1f}%",
                 f"{100 * r['params_reduction']:.1f}%", "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"]
                for r in rows]
        lines += [markdown_table(["method", "ratio", "recovery", "n", "accuracy %", "baseline %", "Δ points",
                                  "FLOPs −", "params −", "speedup"], body), ""]
        for kind in ("skipped", "failed"):  # one line per reason: a method a model cannot take skips every cell
            by_reason: dict[str, list[str]] = {}
            for k, v in res["table"].get(kind, {}).items():
                by_reason.setdefault(v, []).append(k)
            for reason, cells in by_reason.items():
                which = f"`{cells[0]}`" if len(cells) == 1 else \
                    f"{len(cells)} cells ({', '.join(f'`{c}`' for c in cells[:2])}{', ...' if len(cells) > 2 else ''})"
                lines.append(f"- {kind} {which}: {reason}")
        kg_rows = []
        for cid, cell in sorted(res["kg_cells"].items()):
            if "summary" not in cell or "kg" not in cell["summary"]:
                kg_rows.append([cid, "-", "-", "-", "-", cell.get("skipped") or cell.get("failed", "")])
                continue
            k = cell["summary"]["kg"]
            kg_rows.append([f"{cell['cell']['method']} {cell['cell']['ratio']:g} fold {cell['cell']['fold']}",
                            f"{100 * k['plain']['accuracy']:.1f}", f"{100 * k['kg']['accuracy']:.1f}",
                            f"{100 * k['plain']['share']:.1f}", f"{100 * k['kg']['share']:.1f}",
                            f"region {k['region']}, share before recovery {100 * k['share_before']:.1f}%"])
        if kg_rows:
            accs = [(c["summary"]["kg"]["plain"]["accuracy"], c["summary"]["kg"]["kg"]["accuracy"])
                    for c in res["kg_cells"].values() if "summary" in c and "kg" in c["summary"]]
            lines += ["", "Knowledge-guided recovery (region loss on the frontal electrodes, weight 1) against plain "
                      "recovery from the same pruned weights and seed; evidence share = fraction of input-gradient "
                      "evidence on the region (eegdeploy.recover.kg):", "",
                      markdown_table(["cell", "plain accuracy %", "kg accuracy %", "plain evidence share %",
                                      "kg evidence share %", "note"], kg_rows), ""]
            if len(accs) > 1:
                p, k = _mean_std([a[0] for a in accs]), _mean_std([a[1] for a in accs])
                lines += [f"Mean over cells: plain {_pm(*p, len(accs))} %, knowledge-guided {_pm(*k, len(accs))} %.", ""]
        lines.append("")
    return "\n".join(lines)


def collect(name: str, plan: Plan, work: Path) -> dict[str, Any]:
    """One model's results from its work folder as they stand (finished cells only): for a run cut short."""
    import json

    from eegdeploy.sweep import aggregate

    def cells(kind: str) -> dict[str, Any]:
        path = work / kind / "sweep.json"
        return json.loads(path.read_text())["cells"] if path.exists() else {}

    return {"table": aggregate(cells("sweep"), methods=plan.methods), "kg_cells": cells("kg"),
            "cell_seconds": cell_seconds(work)}


def seventy_five(results: dict[str, dict[str, Any]]) -> str:
    """The issue's bar: a setting with >= 75 % fewer FLOPs within 0.5 points, or the best that holds and its limit."""
    held, best = [], []
    for name, res in results.items():
        rows = res["table"]["rows"]
        ok = [r for r in rows if r["flops_reduction"] >= 0.75 and
              r["accuracy"] >= r["baseline_accuracy"] - TOLERANCE - 1e-12]
        if ok:
            r = max(ok, key=lambda r: (r["flops_reduction"], r["accuracy"]))
            held.append(f"{name} {r['method']} {r['ratio']:g} {r['recover']} (FLOPs −{100 * r['flops_reduction']:.1f}%, "
                        f"Δ {100 * (r['accuracy'] - r['baseline_accuracy']):+.1f} points)")
        b = best_within(rows, "flops_reduction")
        if b is not None:
            best.append((b["flops_reduction"], name, b))
    if held:
        return ("**≥ 75 % fewer FLOPs within 0.5 points of the baseline:** " + "; ".join(held) + ". With about a hundred "
                "test trials per fold (48 in a quick run), ±0.5 points is inside the noise: read the std columns "
                "before ranking methods.")
    if not best:
        return "**No setting with ≥ 75 % fewer FLOPs held accuracy within 0.5 points**, and no setting held it at all."
    f, name, b = max(best, key=lambda t: t[0])
    return (f"**No setting with ≥ 75 % fewer FLOPs held accuracy within 0.5 points.** The largest reduction that "
            f"held is {name} {b['method']} {b['ratio']:g} {b['recover']} (FLOPs −{100 * f:.1f}%); at the larger "
            "ratio the pruned models lose more than 0.5 points in the recovery epochs given.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data, few epochs, one split (minutes)")
    ap.add_argument("--backend", default="local", choices=("local", "ray"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="the table (default benchmarks/ACCURACY.md; with --quick "
                                  "reports/accuracy-quick/ACCURACY.md, so a quick run never replaces the full table)")
    ap.add_argument("--work", help="work folder (default reports/accuracy-quick or reports/accuracy)")
    ap.add_argument("--collect", action="store_true",
                    help="write the file from the cells finished so far in --work, running nothing (a PARTIAL table)")
    ap.add_argument("--jobs", type=int, default=2,
                    help="local backend: baselines and cells run at once (processes, one torch thread each; "
                         "default 2, one per core); the models run one after another")
    args = ap.parse_args(argv)

    import resource

    from eegdeploy.io import write_text

    plan = QUICK if args.quick else FULL
    args.out = args.out or ("reports/accuracy-quick/ACCURACY.md" if args.quick else "benchmarks/ACCURACY.md")
    work = Path(args.work or ("reports/accuracy-quick" if args.quick else "reports/accuracy"))
    t0 = time.time()
    load0 = os.getloadavg()[0]
    say = lambda m: print(f"[{time.time() - t0:6.0f} s] {m}", flush=True)  # noqa: E731
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.collect:
        results = {name: collect(name, plan, work / name) for name in names}
        done = sum(len(r["table"]["rows"]) for r in results.values())
        jobs = max(1, args.jobs) if args.backend == "local" else 1
        text = to_markdown(results, plan, args.quick, 0.0, args.backend, args.seed, {"partial": True, "jobs": jobs})
        write_text(args.out, text)
        say(f"wrote {args.out} from {done} finished rows")
        return 0
    jobs = max(1, args.jobs) if args.backend == "local" else 1
    # torcheeg's models pass 2-D input to dropout2d (a deprecation warning per call, in every worker): keep the log
    # readable; spawned workers inherit the filter through the environment
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                                          "ignore:dropout2d:UserWarning"]))
    for name in names:  # generate (or read) each data set once, here, before workers race to build it
        from eegdeploy.config import load_profile
        from eegdeploy.data import load_arrays

        load_arrays(plan.data[name], load_profile(name), seed=args.seed)
    ckpts, reused = train_baselines(names, plan, work, args.seed, say, jobs)
    results = {name: run_model(name, plan, work / name, args.seed, args.backend, say, ckpts[name], jobs)
               for name in names}
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    run = {"jobs": jobs, "reused_baselines": reused, "load": (load0, os.getloadavg()[0]),
           "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage)}
    text = to_markdown(results, plan, args.quick, time.time() - t0, args.backend, args.seed, run)
    write_text(args.out, text)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
