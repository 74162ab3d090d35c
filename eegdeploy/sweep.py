"""Sweeps: method × ratio × recovery (× fold) grids through ``compress``, resumable, on this machine or Ray.

Every cell is one task: it reloads the baseline checkpoint, rebuilds its data split from the seed, runs
``compress`` into ``cells/<id>/`` and returns a summary. ``sweep.json`` records each finished cell atomically, so a
killed sweep resumes without redoing finished cells. A cell that does not apply (nsfp on a model without
BatchNorm, an untraceable model) is recorded as skipped with the reason; a cell that fails is recorded as failed
and tried again on the next run. Cells seed themselves, so the local and Ray backends give the
same accuracies, plans and counts (latency aside). Aggregation follows the published protocol: mean ± std across
folds (and subjects) per method × ratio × recovery.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from eegdeploy.config import RECOVERIES
from eegdeploy.limits import parse_json
from eegdeploy.text import clean, md, md_code
from eegdeploy.errors import ConfigError, EegDeployError, UnsupportedLayerError, invalid_value, unknown_name
from eegdeploy.io import write_json, write_text

__all__ = ["BACKENDS", "Cell", "PROTOCOLS", "RECOVERIES", "State", "SweepConfig", "aggregate", "make_cells",
           "plot_sweep", "run_cell", "run_cells", "summarize", "sweep", "to_markdown"]

BACKENDS = ("local", "ray")
PROTOCOLS = ("holdout", "kfold", "subject", "trial")


@dataclass(frozen=True)
class SweepConfig:
    methods: tuple[str, ...] = ("lfp", "sfp", "nsfp", "uwmp")
    ratios: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    recovers: tuple[str, ...] = ("finetune",)
    epochs: int | None = None
    seed: int = 0
    folds: int = 1
    split: str = "holdout"  # holdout (one seeded split) | kfold | subject | trial
    iters: int = 10
    batches: tuple[int, ...] = (1, 64)
    backend: str = "local"
    ray_address: str | None = None
    cpus_per_cell: int = 1
    jobs: int = 1  # local backend: cells run in this many processes at once (one torch thread each)

    def __post_init__(self) -> None:
        from eegdeploy.prune import METHODS

        for m in self.methods:
            if m not in METHODS:
                raise unknown_name("method", m, sorted(METHODS))
        for r in self.ratios:
            if not 0 < r < 1:
                raise invalid_value("ratio", r, "numbers in (0, 1)")
        for r in self.recovers:
            if r not in RECOVERIES:
                raise unknown_name("recovery", r, RECOVERIES)
        if self.backend not in BACKENDS:
            raise unknown_name("backend", self.backend, BACKENDS)
        if self.split not in PROTOCOLS:
            raise unknown_name("split", self.split, PROTOCOLS)
        if self.folds < 1 or (self.split != "holdout" and self.folds < 2):
            raise invalid_value("folds", self.folds, "an integer >= 2 for kfold/subject/trial splits")
        if self.cpus_per_cell < 1:
            raise invalid_value("cpus-per-cell", self.cpus_per_cell, "an integer >= 1")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise invalid_value("jobs", self.jobs, "an integer >= 1 (cells run at once on this machine)")


@dataclass(frozen=True)
class Cell:
    method: str
    ratio: float
    recover: str
    fold: int = 0

    @property
    def id(self) -> str:
        return f"{self.method}-r{self.ratio:g}-{self.recover}-f{self.fold}"


def make_cells(cfg: SweepConfig) -> list[Cell]:
    folds = cfg.folds if cfg.split != "holdout" else 1
    return [Cell(m, r, rec, f) for f in range(folds) for m in cfg.methods for r in cfg.ratios for rec in cfg.recovers]


def cell_profile(spec: dict[str, Any], bundle: Any):
    from eegdeploy.models import resolve_profile

    return resolve_profile(bundle, spec.get("profile"))


def cell_splits(spec: dict[str, Any], fold: int, profile: Any):
    """The data of one cell, rebuilt from the seed (identical on every worker)."""
    from eegdeploy.data import kfold, load_arrays, split_arrays

    X, y, g, t, label = load_arrays(spec["data"], profile, seed=spec["seed"])
    if spec["split"] == "holdout":  # spec "holdout_split": random (default), trial or subject
        return split_arrays(X, y, g, t, seed=spec["seed"], source=label, split=spec.get("holdout_split") or "random")
    mode = {"kfold": "random", "subject": "subject", "trial": "trial"}[spec["split"]]
    return list(kfold(X, y, g, t, k=spec["folds"], seed=spec["seed"], split=mode, source=label))[fold]


def run_cell(spec: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    """Run one cell; importable at module level so Ray workers can call it."""
    import torch

    from eegdeploy.models import load_model
    from eegdeploy.pipeline import CompressConfig, compress

    torch.set_num_threads(spec.get("threads", 1))
    c = Cell(**cell)
    # spec "checkpoints" {fold: path}: a baseline trained on each fold's own training part (no test leakage)
    bundle = load_model((spec.get("checkpoints") or {}).get(str(c.fold), spec["checkpoint"]))
    profile = cell_profile(spec, bundle)
    splits = cell_splits(spec, c.fold, profile)
    options = (spec.get("method_options") or {}).get(c.method, {})
    # spec "runtimes" / "rewrite": an accuracy-only sweep can time ort-cpu alone and skip the timed ONNX rewrites
    cfg = CompressConfig(method=c.method, ratio=c.ratio, recover=c.recover, epochs=spec["epochs"], seed=spec["seed"],
                         iters=spec["iters"], batches=tuple(spec["batches"]), warmup=2, method_options=options,
                         kg=spec.get("kg"), runtimes=tuple(spec.get("runtimes") or CompressConfig.runtimes),
                         rewrite=bool(spec.get("rewrite", True)), train=profile.train,
                         prune_cache=spec.get("prune_cache"))
    out = Path(spec["out"]) / "cells" / c.id
    try:
        r = compress(bundle, splits, cfg, out).to_dict()
    except (ConfigError, UnsupportedLayerError) as err:  # the method does not apply to this model or setting
        return {"cell": cell, "skipped": err.one_line()}
    except EegDeployError as err:
        return {"cell": cell, "failed": err.one_line()}
    except Exception as err:  # noqa: BLE001 - one broken cell must not lose the rest of a long grid
        first = (str(err).splitlines() or [""])[0][:300]
        return {"cell": cell, "failed": f"internal error: {type(err).__name__}: {first}"}
    return {"cell": cell, "summary": summarize(r)}


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    b, s = r["baseline"], r["slim"]
    lat = {}
    for runtime in ("ort-cpu", "torch-cpu"):
        for batch, st in s["latency_ms"].get(runtime, {}).items():
            base = b["latency_ms"][runtime][batch]["p50"]
            lat[f"{runtime}-{batch}"] = {"slim_p50": st["p50"], "baseline_p50": base, "speedup": base / st["p50"]}
    return {"baseline_accuracy": b["accuracy"], "accuracy": s["accuracy"], "params": s["params"],
            "baseline_params": b["params"], "macs": s["macs"], "baseline_macs": b["macs"],
            "flops": s["flops"], "baseline_flops": b["flops"], "nonzero_params": s.get("nonzero_params"),
            "params_reduction": 1 - (s.get("nonzero_params") or s["params"]) / b["params"],
            "macs_reduction": 1 - s["macs"] / b["macs"], "flops_reduction": 1 - s["flops"] / b["flops"],
            "latency": lat, "parity": r["parity"],
            **({"kg": {k: r["extras"]["kg"][k] for k in ("plain", "kg", "share_before", "region")}}
               if r.get("extras", {}).get("kg") else {})}


_SUMMARY_NUMBERS = ("baseline_accuracy", "accuracy", "params", "baseline_params", "macs", "baseline_macs",
                    "params_reduction", "macs_reduction")


def check_state(old: Any, path: Path) -> None:
    """sweep.json must match its schema before it decides which cells to skip: each entry is keyed by the id of
    the cell it holds and has exactly one outcome (a measured summary, a skip reason, or a failure)."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{path} is not a valid sweep state ({clean(why, max_len=160)})",
                           fix="delete it to start the sweep afresh")

    if not isinstance(old, dict) or old.get("kind") != "eegdeploy-sweep" or old.get("version") != 1 \
            or not isinstance(old.get("spec"), dict) or not isinstance(old.get("cells", {}), dict):
        raise bad("not an eegdeploy sweep.json, version 1")
    for cid, res in old.get("cells", {}).items():
        if not isinstance(res, dict) or not isinstance(res.get("cell"), dict):
            raise bad(f"entry {cid!r} has no cell")
        c = res["cell"]
        try:
            if set(c) != {"method", "ratio", "recover", "fold"} or not all(isinstance(c[k], str) for k in
                                                                             ("method", "recover")) \
                    or isinstance(c["ratio"], bool) or not isinstance(c["ratio"], (int, float)) \
                    or not 0 < c["ratio"] < 1 or not isinstance(c["fold"], int) or c["fold"] < 0:
                raise ValueError
            ok_id = Cell(**c).id == cid
        except (TypeError, ValueError):
            raise bad(f"entry {cid!r} holds a malformed cell") from None
        if not ok_id:
            raise bad(f"entry {cid!r} holds the cell of another id")
        outcomes = [k for k in ("summary", "skipped", "failed") if k in res]
        if len(outcomes) != 1 or set(res) != {"cell", outcomes[0]}:
            raise bad(f"entry {cid!r} does not have exactly one outcome")
        value = res[outcomes[0]]
        if outcomes[0] == "summary":
            if not isinstance(value, dict) or not all(isinstance(value.get(k), (int, float))
                                                      and not isinstance(value.get(k), bool)
                                                      for k in _SUMMARY_NUMBERS):
                raise bad(f"entry {cid!r} has a malformed summary")
        elif not isinstance(value, str) or len(value) > 2000:
            raise bad(f"entry {cid!r} has a malformed reason")


class State:
    """sweep.json: finished and skipped cells, rewritten atomically after each one."""

    def __init__(self, path: Path, spec: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"kind": "eegdeploy-sweep", "version": 1, "spec": spec, "cells": {}}
        if path.exists():
            try:
                old = parse_json(path.read_text(encoding="utf-8"), str(path), lambda m, f: ConfigError(m, fix=f))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ConfigError(f"{path} is corrupt", fix="delete it to start the sweep afresh") from None
            check_state(old, path)
            keys = ("checkpoint", "model", "data", "seed", "epochs", "split", "folds", "holdout_split", "checkpoints",
                    "kg")
            diff = [k for k in keys if old.get("spec", {}).get(k) != spec.get(k)]
            if (old.get("spec", {}).get("method_options") or {}) != (spec.get("method_options") or {}):
                diff.append("method_options")
            if diff:
                what = ", ".join(f"{k}: {old.get('spec', {}).get(k)!r} there, {spec.get(k)!r} here" for k in diff)
                raise ConfigError(f"{path} belongs to a sweep with other settings ({what})",
                                  fix="use another --out, or the same model, data, seed, epochs, folds and "
                                      "method options")
            self.data["cells"] = old.get("cells", {})

    def done(self) -> set[str]:
        """Finished cells: measured or skipped. Failed cells are not done; the next run tries them again."""
        return {cid for cid, res in self.data["cells"].items() if "failed" not in res}

    def failed(self) -> set[str]:
        return {cid for cid, res in self.data["cells"].items() if "failed" in res}

    def record(self, cell: Cell, result: dict[str, Any]) -> None:
        self.data["cells"][cell.id] = result
        write_json(self.path, self.data)


def run_in_processes(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], jobs: int,
                     on_result: Callable[[int, Any], None]) -> None:
    """``fn(*calls[i])`` for every i, ``jobs`` at a time in spawned processes (in this process when ``jobs`` is 1:
    then ``fn`` need not be picklable); ``on_result(i, result)`` runs here as each finishes, in any order.

    An exception here (Ctrl-C, SIGTERM through the CLI, or one raised by ``on_result``) stops at once, not after
    the remaining calls, and no worker outlives it."""
    if jobs <= 1:
        for i, args in enumerate(calls):
            on_result(i, fn(*args))
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # not a multiprocessing.Pool: its daemonic workers cannot start the export's helper process
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        while futures:
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                on_result(futures.pop(fut), fut.result())
    except BaseException:
        # Executor.terminate_workers() arrives in Python 3.14; before it, the workers are terminated here
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
        raise
    pool.shutdown(wait=True)


def run_cells(cells: Sequence[Cell], fn: Callable[[dict[str, Any]], dict[str, Any]], *, backend: str,
              on_done: Callable[[Cell, dict[str, Any]], None], ray_address: str | None = None,
              cpus_per_cell: int = 1, jobs: int = 1) -> None:
    """Run ``fn(asdict(cell))`` for each cell; ``on_done`` is called in this process as each finishes.

    Local with ``jobs`` > 1: ``fn`` (then a picklable module-level function or partial) runs in that many spawned
    processes (``run_in_processes``); cells finish in any order."""
    if backend == "local":
        run_in_processes(fn, [(asdict(c),) for c in cells], jobs, lambda i, res: on_done(cells[i], res))
        return
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray", fix='pip install "eegdeploy[ray]"') from None
    started = False
    if not ray.is_initialized():
        import os

        ray.init(address=ray_address, num_cpus=None if ray_address else (os.cpu_count() or 2),
                 include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        remote = ray.remote(num_cpus=cpus_per_cell)(lambda cell: fn(cell))
        pending = {remote.remote(asdict(c)): c for c in cells}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                on_done(pending.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


CellEvent = Callable[[str, Cell, int, int], None]  # (event "start" | "done", cell, cells done this run, to run)


def sweep(spec: dict[str, Any], cfg: SweepConfig, *, progress: Callable[[str], None] | None = None,
          on_cell: CellEvent | None = None) -> dict[str, Any]:
    """Run the grid (resuming), then aggregate and write sweep.md and plots. ``spec`` names the checkpoint,
    profile file, data source and output folder (see ``eegdeploy.cli.sweep``). ``progress`` receives one line
    per event; ``on_cell`` drives a progress bar ("start" events come from the local backend only)."""
    import functools

    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    # the recovery modes of one (method, ratio, fold) share its pruning (sfp and nsfp train to make it)
    spec = {**spec, "prune_cache": spec.get("prune_cache") or str(out / "prune-cache")}
    state = State(out / "sweep.json", spec)
    cells = make_cells(cfg)
    todo = [c for c in cells if c.id not in state.done()]
    if cfg.backend != "local" or cfg.jobs > 1:  # cells at once: one recovery mode of each pruning first
        todo.sort(key=lambda c: cfg.recovers.index(c.recover))
    retry = sum(1 for c in todo if c.id in state.failed())
    say = progress or (lambda msg: None)
    event = on_cell or (lambda kind, cell, n, total: None)
    say(f"{len(cells)} cells, {len(cells) - len(todo)} already finished, {len(todo)} to run ({cfg.backend})"
        + (f", {retry} of them failed before" if retry else ""))
    ran = [0]

    def done(c: Cell, res: dict[str, Any]) -> None:
        state.record(c, res)
        ran[0] += 1
        if "summary" in res:
            what = (f"accuracy {100 * res['summary']['accuracy']:.1f}%, "
                    f"MACs -{100 * res['summary']['macs_reduction']:.0f}%")
        else:
            what = ("skipped: " + res["skipped"]) if "skipped" in res else ("FAILED: " + res["failed"])
        say(f"[{len(state.done())}/{len(cells)}] {c.id}: {what}")
        event("done", c, ran[0], len(todo))

    def run_one(cell: dict[str, Any]) -> dict[str, Any]:
        if cfg.backend == "local":
            event("start", Cell(**cell), ran[0], len(todo))
        return run_cell(spec, cell)

    fn = run_one if cfg.backend == "local" and cfg.jobs <= 1 else functools.partial(run_cell, spec)
    run_cells(todo, fn, backend=cfg.backend, on_done=done, ray_address=cfg.ray_address,
              cpus_per_cell=cfg.cpus_per_cell, jobs=cfg.jobs)
    table = aggregate(state.data["cells"], methods=cfg.methods)
    write_text(out / "sweep.md", to_markdown(table, spec, cfg))
    plot_sweep(table, out)
    write_json(out / "aggregate.json", table)
    return table


def _mean_std(vals: list[float]) -> tuple[float, float]:
    m = sum(vals) / len(vals)
    return m, (math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0)


def aggregate(cells: dict[str, Any], *, methods: Sequence[str] = ()) -> dict[str, Any]:
    """Per method × ratio × recovery: mean ± std accuracy across folds, reductions, latency; skipped and failed
    cells apart. Rows follow ``methods`` (then by name), ratio, and finetune/scratch/none."""
    groups: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    for cid, res in sorted(cells.items()):
        c = res["cell"]
        if "skipped" in res:
            skipped[cid] = res["skipped"]
            continue
        if "failed" in res:
            failed[cid] = res["failed"]
            continue
        groups.setdefault((c["method"], float(c["ratio"]), c["recover"]), []).append(res["summary"])
    rows = []
    def order(key: tuple[str, float, str]) -> tuple[Any, ...]:
        m, r, rec = key
        rank = list(methods).index(m) if m in methods else len(methods)
        return rank, m, r, RECOVERIES.index(rec) if rec in RECOVERIES else len(RECOVERIES), rec

    for (m, r, rec), sums in sorted(groups.items(), key=lambda kv: order(kv[0])):
        acc, acc_sd = _mean_std([s["accuracy"] for s in sums])
        base, base_sd = _mean_std([s["baseline_accuracy"] for s in sums])
        lat_key = max((k for k in sums[0]["latency"] if k.startswith("ort-cpu")), key=lambda k: int(k.split("-")[-1]),
                      default=None)
        row = {"method": m, "ratio": r, "recover": rec, "n": len(sums), "accuracy": acc, "accuracy_std": acc_sd,
               "baseline_accuracy": base, "baseline_accuracy_std": base_sd,
               "params_reduction": sum(s["params_reduction"] for s in sums) / len(sums),
               "macs_reduction": sum(s["macs_reduction"] for s in sums) / len(sums),
               "flops_reduction": sum(s["flops_reduction"] for s in sums) / len(sums),
               "latency_key": lat_key,
               "slim_p50_ms": (sum(s["latency"][lat_key]["slim_p50"] for s in sums) / len(sums)) if lat_key else None,
               "speedup": (sum(s["latency"][lat_key]["speedup"] for s in sums) / len(sums)) if lat_key else None}
        rows.append(row)
    return {"rows": rows, "skipped": skipped, "failed": failed}


def to_markdown(table: dict[str, Any], spec: dict[str, Any], cfg: SweepConfig) -> str:
    from eegdeploy.report.render import markdown_table

    header = ["method", "ratio", "recovery", "n", "accuracy % (mean ± std)", "baseline %", "params −", "MACs −",
              "FLOPs −", "ort-cpu p50 ms", "speedup"]
    rows = [[r["method"], f"{r['ratio']:g}", r["recover"], r["n"], f"{100 * r['accuracy']:.1f} ± {100 * r['accuracy_std']:.1f}",
             f"{100 * r['baseline_accuracy']:.1f}", f"{100 * r['params_reduction']:.1f}%",
             f"{100 * r['macs_reduction']:.1f}%", f"{100 * r['flops_reduction']:.1f}%",
             "-" if r["slim_p50_ms"] is None else f"{r['slim_p50_ms']:.3f}",
             "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"] for r in table["rows"]]
    lines = ["# Sweep", "", f"Model `{spec['checkpoint']}`, data `{spec['data'] or 'synthetic'}`, seed {spec['seed']}, "
             f"protocol {cfg.split}" + (f" ({cfg.folds} folds)" if cfg.split != "holdout" else "") +
             f", backend {cfg.backend}" + _options_text(spec) + ". Latency: ort-cpu at the largest batch, 1 thread, "
             "measured side by side with the baseline in each cell; reductions are against the unpruned baseline (params − counts non-zero "
             "parameters for uwmp, whose dense latency does not drop).", "", markdown_table(header, rows), ""]
    if table["skipped"]:
        lines += ["Skipped cells (the method does not apply):", ""]
        lines += [f"- `{md_code(k)}`: {md(v)}" for k, v in table["skipped"].items()] + [""]
    if table.get("failed"):
        lines += ["Failed cells (tried again by the next run of the same command):", ""]
        lines += [f"- `{md_code(k)}`: {md(v)}" for k, v in table["failed"].items()] + [""]
    lines += ["![accuracy vs MACs](sweep-accuracy-macs.png)", "", "![accuracy vs latency](sweep-accuracy-latency.png)", ""]
    return "\n".join(lines)


STYLES = {"finetune": "-", "scratch": "--", "none": ":"}


def _options_text(spec: dict[str, Any]) -> str:
    opts = spec.get("method_options") or {}
    if not opts:
        return ""
    return ", method options " + "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in o.items())
                                           for m, o in sorted(opts.items()))


def plot_sweep(table: dict[str, Any], out: Path) -> None:
    """sweep-accuracy-macs.png and sweep-accuracy-latency.png: one colour per method, one line style per
    recovery, each point labelled with its ratio. Series whose points share one x (uwmp on MACs: dense by design)
    are drawn as points, not a line."""
    from eegdeploy.io import atomic_path
    from eegdeploy.report.plots import pyplot

    plt = pyplot()
    methods = list(dict.fromkeys(r["method"] for r in table["rows"]))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for key, xlabel, fname in (("macs_reduction", "MACs kept (fraction of baseline)", "sweep-accuracy-macs.png"),
                               ("slim_p50_ms", "slim ort-cpu p50 latency (ms), largest batch",
                                "sweep-accuracy-latency.png")):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        series: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
        for r in table["rows"]:
            if r[key] is None:
                continue
            x = 1 - r[key] if key == "macs_reduction" else r[key]
            series.setdefault((r["method"], r["recover"]), []).append(
                (x, 100 * r["accuracy"], 100 * r["accuracy_std"], r["ratio"]))
        for (method, recover), pts in series.items():
            pts.sort()
            xs = [p[0] for p in pts]
            same_x = len(pts) > 1 and max(xs) - min(xs) <= 1e-9 * max(1.0, abs(max(xs)))
            ax.errorbar(xs, [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", ms=4, capsize=2,
                        color=colours[method], ls="none" if same_x else STYLES.get(recover, "-"),
                        mfc="white" if recover == "scratch" else colours[method], label=f"{method} / {recover}")
            for x, y, _, ratio in pts:
                ax.annotate(f"{ratio:g}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6,
                            color=colours[method])
        if table["rows"]:
            ax.axhline(100 * table["rows"][0]["baseline_accuracy"], color="grey", ls="--", lw=1, label="baseline")
            base_ms = [r["slim_p50_ms"] * r["speedup"] for r in table["rows"] if r["speedup"]]
            if key == "slim_p50_ms" and base_ms:  # the baseline as timed beside each cell (median over cells)
                ax.axvline(sorted(base_ms)[len(base_ms) // 2], color="grey", ls=":", lw=1, label="baseline latency")
            elif key == "macs_reduction":
                ax.axvline(1.0, color="grey", ls=":", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("labels: pruning ratio; hollow markers: scratch", fontsize=8)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        with atomic_path(out / fname, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
