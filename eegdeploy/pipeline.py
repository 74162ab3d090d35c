"""compress(): baseline → prune → slim → recover → export → bench → report, as a short sequence of stage calls.

Each stage is a function with typed inputs and a typed result; ``compress`` only wires them and keeps the clock.
Structured plans are slimmed before recovery (training the slim network is cheaper than training a masked dense
one, and the slim-vs-pruned proof is made on the exact weights the plan chose); unstructured plans recover under
their masks and are slimmed after (only channels left entirely dead go). Either way the proof is one call,
``prune.check_slim``, with one tolerance, ``prune.SLIM_TOLERANCE``.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn

from eegdeploy._version import __version__
from eegdeploy.config import RECOVERIES, TrainConfig
from eegdeploy.data.types import Splits
from eegdeploy.errors import UnsupportedLayerError, invalid_value, unknown_name
from eegdeploy.io import Staging, write_json, write_text
from eegdeploy.models.bundle import Bundle, check_prunable, resolve_profile
from eegdeploy.recover import evaluate, fit
from eegdeploy.report.schema import CompressResult, StageFigures

if TYPE_CHECKING:  # pragma: no cover
    from eegdeploy.bench import CountResult, LatencyResult
    from eegdeploy.export import ExportResult, PackageResult
    from eegdeploy.prune import MethodConfig, PrunePlan
    from eegdeploy.recover.distill import DistillConfig
    from eegdeploy.recover.kg import KGConfig

__all__ = ["RECOVERIES", "CompressConfig", "PruneStage", "SlimStage", "ModelFigures", "compress", "parity_inputs",
           "measure", "plan_stage", "slim_stage", "recover_stage", "export_stage", "bench_stage"]

# files a compress run writes only sometimes: one an earlier run left in --out is removed when this run writes none
REPLACED = ("slim.pt", "slim.int8.onnx")


@dataclass(frozen=True)
class CompressConfig:
    """What ``eegdeploy compress`` does; CLI flags mirror these fields.

    ``int8``: also quantize the slim model (static QDQ, calibrated on training samples); slim.int8.onnx is kept
    only where it is faster than slim.onnx and loses at most ``int8_max_drop`` test accuracy (a fraction).
    """

    method: str = "lfp"
    ratio: float = 0.5
    recover: str = "finetune"
    epochs: int | None = None  # recovery epochs; None: the recipe's (``train.epochs``)
    seed: int = 0
    keep: tuple[str, ...] = ()
    method_options: Mapping[str, Any] = field(default_factory=dict)  # scope, sparsity, sfp_schedule, ...
    train: TrainConfig | None = None  # recovery recipe; None: the bundle's profile's (models.resolve_profile)
    batches: tuple[int, ...] = (1, 64)
    threads: int = 1
    iters: int = 30
    warmup: int = 5
    runtimes: tuple[str, ...] = ("ort-cpu", "torch-cpu")
    tolerance: float = 1e-4
    plan_path: str | None = None
    kg: KGConfig | None = None  # knowledge-guided recovery
    distill: DistillConfig | None = None  # recover="distill": temperature and weight (None: the defaults)
    int8: bool = False
    int8_max_drop: float = 0.01
    rewrite: bool = True  # exact deployment rewrites of slim.onnx (eegdeploy.rewrite)
    rewrite_measure: bool = True  # choose rewrite forms by timing in onnxruntime; False: the cost model
    round_to: int = 16  # kept channel counts rounded to multiples of this (1: off); benchmarks/RESULTS.md measures it
    prune: MethodConfig | None = None  # the typed method config; built from method/ratio/keep/method_options if None
    prune_cache: str | None = None  # folder reusing pruning results across runs (eegdeploy.prune.cache; sweeps)

    def __post_init__(self) -> None:
        if not (isinstance(self.ratio, (int, float)) and 0.0 < float(self.ratio) < 1.0):
            raise invalid_value("ratio", self.ratio, "a number in (0, 1)")
        if self.recover not in RECOVERIES:
            raise unknown_name("recovery", self.recover, RECOVERIES)
        if self.epochs is not None and self.epochs < 0:
            raise invalid_value("epochs", self.epochs, "an integer >= 0")
        if not self.batches or any(b < 1 for b in self.batches):
            raise invalid_value("batch", list(self.batches), "positive batch sizes such as 1,64")
        if isinstance(self.round_to, bool) or not isinstance(self.round_to, int) or self.round_to < 1:
            raise invalid_value("round-to", self.round_to, "a positive integer such as 8 or 16 (1: no rounding)")
        if not 0 <= self.int8_max_drop <= 1:
            raise invalid_value("int8-max-drop", self.int8_max_drop, "a fraction between 0 and 1, e.g. 0.01")
        if self.prune is not None:  # the typed config is the truth; the flat fields mirror it
            object.__setattr__(self, "method", self.prune.method)
            object.__setattr__(self, "ratio", float(self.prune.ratio))
            object.__setattr__(self, "keep", tuple(self.prune.keep))
            object.__setattr__(self, "method_options", self.prune.options())
        elif self.plan_path is None:
            from eegdeploy.prune import make_config

            object.__setattr__(self, "prune", make_config(self.method, self.ratio, keep=self.keep,
                                                          **dict(self.method_options)))
        if isinstance(self.kg, Mapping):  # a mapping from an older caller: made typed here, checked once
            from eegdeploy.recover.kg import KGConfig

            object.__setattr__(self, "kg", KGConfig(**dict(self.kg)))
        if isinstance(self.distill, Mapping):
            from eegdeploy.recover.distill import DistillConfig

            object.__setattr__(self, "distill", DistillConfig(**dict(self.distill)))
        if self.recover == "distill" and self.distill is None:
            from eegdeploy.recover.distill import DistillConfig

            object.__setattr__(self, "distill", DistillConfig())


Progress = Callable[[str, str], None]  # (stage, message)


# --- typed stage results ---------------------------------------------------------------------------------------

@dataclass
class ModelFigures:
    """What ``measure`` finds for one model: counts and test accuracy (PyTorch)."""

    count: CountResult
    accuracy: float


@dataclass
class PruneStage:
    """A plan and the weights it was made on (sfp and nsfp train them; lfp and uwmp leave them as given)."""

    plan: PrunePlan
    source: nn.Module


@dataclass
class SlimStage:
    """The slim network, recovered; ``parity``: max |slim(x) - pruned(x)| before recovery (the proof)."""

    model: nn.Module
    parity: float
    recovery: dict[str, Any] | None = None  # FitResult fields, with the history
    kg: dict[str, Any] | None = None  # the knowledge-guided comparison
    dead_channels_removed: int | None = None  # unstructured plans only


@dataclass
class ExportStage:
    baseline: ExportResult
    slim: PackageResult
    portable_skipped: str | None = None  # why slim.pt was not written (slim.onnx still carries the model)
    portable_kind: str | None = None  # "fx" or "aten" (eegdeploy.models.portable.write_portable)


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


# --- stages ----------------------------------------------------------------------------------------------------

def parity_inputs(bundle: Bundle, splits: Splits, n: int = 16, seed: int = 0) -> torch.Tensor:
    """Random inputs plus real test samples: both must agree."""
    g = torch.Generator().manual_seed(seed)
    rand = torch.randn((n, *bundle.input.shape), generator=g)
    real = torch.from_numpy(np.ascontiguousarray(splits.test.X[:n], dtype=np.float32))
    return torch.cat([rand, real]) if len(real) else rand


def measure(model: nn.Module, example: torch.Tensor, splits: Splits) -> ModelFigures:
    from eegdeploy.bench import count

    return ModelFigures(count=count(model, example), accuracy=evaluate(model, splits.test))


def plan_stage(baseline: nn.Module, splits: Splits, config: CompressConfig, train: TrainConfig,
               example: torch.Tensor) -> PruneStage:
    """The plan: read from ``config.plan_path``, or made by the configured method on a copy of the baseline."""
    from eegdeploy.prune import PrunePlan, prune

    work = copy.deepcopy(baseline)
    if config.prune is None:
        return PruneStage(PrunePlan.load(str(config.plan_path)), work)
    key = None
    from eegdeploy.prune import METHODS

    if config.prune_cache and METHODS[config.prune.method].trains:  # a sweep's recovery modes share one pruning
        from eegdeploy.prune import cache

        key = cache.prune_key(baseline, splits, {"prune": repr(config.prune), "round_to": config.round_to,
                                                 "seed": config.seed, "train": repr(train),
                                                 "example": list(example.shape)})
        hit = cache.load(config.prune_cache, key, baseline)
        if hit is not None:
            hit[0].notes.append("pruning reused from an identical earlier run (same baseline, data, method, "
                                "recipe and seed)")
            return PruneStage(*hit)
    plan = prune(work, config.prune, example=example, splits=splits, train=train, seed=config.seed)
    if config.round_to > 1:  # hardware-friendly widths (structured plans only)
        from eegdeploy.prune.rounding import round_plan

        plan = round_plan(plan, work, example, config.round_to)
    if key is not None:
        cache.save(config.prune_cache, key, plan, work)
    return PruneStage(plan, work)


def _reinit(model: nn.Module, seed: int) -> None:
    torch.manual_seed(seed + 7919)
    for m in model.modules():
        if hasattr(m, "reset_parameters") and m is not model:
            m.reset_parameters()


def recover_stage(model: nn.Module, splits: Splits, config: CompressConfig, train: TrainConfig, bundle: Bundle,
                  say: Progress, callbacks: tuple[Any, ...] = ()) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Recovery training in place: plain, or knowledge-guided beside a plain run for comparison.

    ``recover="distill"`` adds the unpruned baseline (``bundle.module``) as teacher; with ``kg`` the
    distillation term blends with the knowledge-guided loss (and the plain comparison run distils too).
    """
    if config.recover == "distill":
        from eegdeploy.recover.distill import Distill

        callbacks = (*callbacks, Distill(bundle.module, config.distill))
    if config.kg is None:
        res, kg = fit(model, splits, train, seed=config.seed, callbacks=list(callbacks)), None
    else:
        from eegdeploy.recover.kg import guided_fit

        res, kg = guided_fit(model, splits, train, config.kg, bundle.input, seed=config.seed, callbacks=callbacks,
                             say=say)
    return res.__dict__ | {"history": res.history}, kg


def slim_stage(pruned: PruneStage, splits: Splits, config: CompressConfig, train: TrainConfig, bundle: Bundle,
               example: torch.Tensor, checks: torch.Tensor, say: Progress, clock: _Clock) -> SlimStage:
    """The dense slim network, proven equal to the pruned one, and recovered."""
    from eegdeploy.prune import apply_masks, check_slim, dead_channel_plan, slim

    plan, epochs = pruned.plan, train.epochs if config.recover != "none" else 0
    if plan.kind == "structured":
        with clock.stage("slim"):
            small = slim(pruned.source, plan, example, verify=False).eval()
            out = SlimStage(small, check_slim(small, apply_masks(copy.deepcopy(pruned.source), plan), checks))
        if epochs > 0:
            with clock.stage("recover"):
                if config.recover == "scratch":
                    _reinit(small, config.seed)
                say("recover", f"{config.recover}, {epochs} epoch{'s' if epochs != 1 else ''} on the slim network")
                out.recovery, out.kg = recover_stage(small, splits, config, train, bundle, say)
        return out
    from eegdeploy.prune import KeepMasks

    with clock.stage("recover"):
        masked = apply_masks(copy.deepcopy(pruned.source), plan)
        if config.recover == "scratch":
            _reinit(masked, config.seed)
            apply_masks(masked, plan)
        recovery = kg = None
        if epochs > 0:
            say("recover", f"{config.recover}, {epochs} epoch{'s' if epochs != 1 else ''} under the weight masks")
            recovery, kg = recover_stage(masked, splits, config, train, bundle, say, (KeepMasks(plan),))
    with clock.stage("slim"):
        masked.eval()
        dead = dead_channel_plan(masked, example)
        removed = sum(dead.sizes[g] - len(k) for g, k in dead.keep.items())
        small = slim(masked, dead, example, verify=False).eval() if removed else copy.deepcopy(masked).eval()
        return SlimStage(small, check_slim(small, masked, checks, what="masked"), recovery, kg, removed)


def export_stage(baseline: nn.Module, small: nn.Module, folder: Path, bundle: Bundle, splits: Splits,
                 config: CompressConfig, example: torch.Tensor, checks: torch.Tensor, meta: dict[str, str],
                 portable_meta: dict[str, Any]) -> ExportStage:
    """baseline.onnx (the user's model as given) and the slim package: slim.onnx, test vectors, slim.pt, and
    slim.int8.onnx when asked for and worth keeping."""
    from eegdeploy.export import ExportConfig, PackageConfig, PackageFiles, export_onnx, export_package
    from eegdeploy.models.portable import write_portable

    xcfg = ExportConfig(tolerance=config.tolerance, max_accuracy_drop=config.int8_max_drop)
    check_np = checks.numpy()
    base = export_onnx(baseline, folder / "baseline.onnx", xcfg, example=example,
                       metadata=meta | {"eegdeploy.stage": "baseline"}, check_inputs=check_np)
    vectors = np.ascontiguousarray(splits.test.X[:8], dtype=np.float32)
    rewrite = None
    if config.rewrite:
        from eegdeploy.rewrite import RewriteConfig

        rewrite = RewriteConfig(batch=max(config.batches), threads=config.threads, measure=config.rewrite_measure)
    pcfg = PackageConfig(export=xcfg, int8=config.int8, int8_policy="if-better", int8_batch=max(config.batches),
                         threads=config.threads, rewrite=rewrite)
    pkg = export_package(small, folder, PackageFiles.compress(), pcfg, example=example,
                         metadata=meta | {"eegdeploy.stage": "slim"}, check_inputs=check_np,
                         vectors=vectors if len(vectors) else check_np[:8], calibration=splits.train.X[:128],
                         test=splits.test if len(splits.test) else None)
    try:
        _, kind = write_portable(small, example, folder / "slim.pt", meta=portable_meta)
    except UnsupportedLayerError as err:  # an op outside the slim.pt whitelists: the verified ONNX file is the deliverable
        return ExportStage(base, pkg, portable_skipped=str(err))
    return ExportStage(base, pkg, portable_kind=kind)


def bench_stage(baseline: nn.Module, small: nn.Module, folder: Path, exported: ExportStage, config: CompressConfig,
                example: torch.Tensor) -> dict[str, LatencyResult]:
    """Latency of baseline, slim (and, onnxruntime only, the pruning-only file before rewrites and a kept int8 file),
    interleaved in one run."""
    from eegdeploy.bench import compare_many

    candidates: dict[str, tuple[nn.Module | None, Path | None]] = {
        "baseline": (baseline, folder / "baseline.onnx"), "slim": (small, folder / exported.slim.files.onnx)}
    hidden = folder / ".pruned.onnx"  # removed before the folder is committed
    if exported.slim.unrewritten is not None:
        hidden.write_bytes(exported.slim.unrewritten)
        candidates["pruned"] = (None, hidden)
    if exported.slim.int8_kept:
        candidates["int8"] = (None, folder / exported.slim.files.int8)
    try:
        results = compare_many(list(candidates.values()), example=example, batches=config.batches,
                               threads=config.threads, iters=config.iters, warmup=config.warmup,
                               runtimes=config.runtimes, labels=tuple(candidates))
    finally:
        hidden.unlink(missing_ok=True)
    return dict(zip(candidates, results))


# --- the pipeline ----------------------------------------------------------------------------------------------

def compress(bundle: Bundle, splits: Splits, config: CompressConfig, out_dir: Path | str, *,
             progress: Progress | None = None) -> CompressResult:
    """Run the whole pipeline; artifacts appear in ``out_dir`` only if every stage succeeded.

    Training (plan-time for sfp/nsfp, recovery) follows ``config.train``, or the bundle's profile's recipe when it
    is None, with ``config.epochs`` (if set) as the recovery epochs."""
    say = progress or (lambda stage, msg: None)
    check_prunable(bundle)  # an ATen-graph slim.pt (eegdeploy.models.aten) cannot be pruned again
    if config.kg is not None:
        from eegdeploy.recover.kg import region_mask

        region_mask(bundle.input, config.kg.region)  # a bad region fails before any work
    clock = _Clock()
    torch.manual_seed(config.seed)
    base_train = config.train or resolve_profile(bundle).train
    recipe = replace(base_train, epochs=config.epochs if config.epochs is not None else base_train.epochs)
    baseline = copy.deepcopy(bundle.module).eval()
    example = torch.zeros((1, *bundle.input.shape))
    checks = parity_inputs(bundle, splits, seed=config.seed)

    with Staging(out_dir) as staging:
        out = staging.path
        with clock.stage("baseline"):
            say("baseline", "evaluating and counting the baseline")
            base = measure(baseline, example, splits)
        with clock.stage("prune"):
            say("prune", f"applying plan {config.plan_path}" if config.plan_path
                else f"{config.method} at ratio {config.ratio}")
            pruned = plan_stage(baseline, splits, config, recipe, example)
        slimmed = slim_stage(pruned, splits, config, recipe, bundle, example, checks, say, clock)
        with clock.stage("evaluate"):
            figures = measure(slimmed.model, example, splits)
        meta = _metadata(bundle, config, base.accuracy, figures.accuracy)
        with clock.stage("export"):
            say("export", "baseline.onnx and slim.onnx, checked in onnxruntime"
                + (", and an int8 copy" if config.int8 else ""))
            exported = export_stage(baseline, slimmed.model, out, bundle, splits, config, example, checks, meta,
                                    _portable_meta(bundle, config, meta))
        with clock.stage("bench"):
            say("bench", f"latency, batches {list(config.batches)}, {config.threads} thread(s), interleaved")
            latency = bench_stage(baseline, slimmed.model, out, exported, config, example)
        result = _result(bundle, splits, config, recipe, pruned.plan, base, figures, slimmed, exported, latency)
        if pruned.plan.kind == "unstructured":
            result.extras["compressed_bytes"] = _zipped_sizes(out)
        result.extras["accuracy"] = _accuracy_extras(bundle, splits, pruned.plan, config, recipe, base.accuracy,
                                                     figures.accuracy)
        result.timings_s = dict(clock.timings)  # report.md lists every stage before its own
        with clock.stage("report"):
            _write_reports(result, out, bundle, exported.slim)
        result.timings_s = dict(clock.timings)
        write_json(out / "report.json", result.to_dict())  # again, now with the report stage's time
        result.extras["files"] = [p.relative_to(staging.out).as_posix() for p in staging.commit(replaces=REPLACED)]
    return result


# --- the result and its files ----------------------------------------------------------------------------------

def _result(bundle: Bundle, splits: Splits, config: CompressConfig, recipe: TrainConfig, plan: PrunePlan,
            base: ModelFigures, figures: ModelFigures, slimmed: SlimStage, exported: ExportStage,
            latency: dict[str, LatencyResult]) -> CompressResult:
    from eegdeploy.bench import environment, nonzero_params

    pkg = exported.slim
    epochs = recipe.epochs if config.recover != "none" else 0
    notes = [n for lat in latency.values() for n in lat.notes]
    extras: dict[str, Any] = {"notes": notes, "training": {}}
    if exported.portable_kind:
        extras["slim_pt_kind"] = exported.portable_kind
    if exported.portable_skipped:
        extras["slim_pt_skipped"] = exported.portable_skipped
        notes.append(f"slim.pt not written ({exported.portable_skipped}); slim.onnx and test-vectors.npz carry the "
                     "slim model, verified as usual")
    if slimmed.recovery is not None:
        extras["training"]["recovery"] = slimmed.recovery
    if slimmed.kg is not None:
        extras["kg"] = slimmed.kg
    if slimmed.dead_channels_removed is not None:
        extras["dead_channels_removed"] = slimmed.dead_channels_removed
    int8 = None
    if pkg.int8 is not None:
        extras["int8"] = pkg.int8_summary()
        if pkg.int8_kept:
            int8 = StageFigures(figures.count.params, figures.count.macs, figures.count.flops, pkg.int8.int8_accuracy,
                                pkg.int8.int8_bytes, latency["int8"].latency_ms)
        else:
            notes.append(f"int8 copy dropped: {pkg.int8_reason}")
    if plan.kind == "unstructured":
        notes.append("unstructured pruning: weights are zeroed, not removed, so dense latency does not drop; "
                     "see non-zero params and the zipped ONNX size instead of a speedup")
    extras["plan"] = plan.to_dict()
    extras["pruned_layers"] = pruned_layers(plan)
    # transformers only (they have LayerNorms; CNNs skip the second channel analysis this costs)
    if plan.kind == "structured" and any(isinstance(m, nn.LayerNorm) for m in bundle.module.modules()):
        from eegdeploy.search.space import structure

        shape = structure(bundle.module, plan, torch.zeros((1, *bundle.input.shape)))
        if shape is not None:  # a transformer: heads, MLP widths, embedding and depth before and after
            extras["structure"] = shape
    extras["export"] = {"baseline": exported.baseline.to_dict() | {"file": "baseline.onnx"},
                        "slim": pkg.export.to_dict() | {"file": pkg.files.onnx}}
    extras["counting"] = {"convention": base.count.convention, "baseline": _count_summary(base.count),
                          "slim": _count_summary(figures.count)}
    return CompressResult(
        eegdeploy_version=__version__,
        model={"name": bundle.name, "arch": bundle.arch, "input_shape": list(bundle.input.shape),
               "num_classes": bundle.num_classes, "class_names": list(bundle.class_names)},
        recipe={"method": plan.method, "ratio": float(config.ratio), "recover": config.recover,
                "epochs": int(epochs), "seed": int(config.seed), "keep": list(config.keep),
                "options": config.prune.options() if config.prune else {}, "train": recipe.__dict__,
                **({"distill": config.distill.to_dict()} if config.recover == "distill" else {})},
        data={"source": splits.source, **splits.sizes()},
        baseline=StageFigures(base.count.params, base.count.macs, base.count.flops, base.accuracy,
                              exported.baseline.bytes, latency["baseline"].latency_ms),
        slim=StageFigures(figures.count.params, figures.count.macs, figures.count.flops, figures.accuracy,
                          pkg.export.bytes, latency["slim"].latency_ms,
                          nonzero_params=nonzero_params(slimmed.model) if plan.kind == "unstructured" else None),
        parity={"slim_vs_pruned_max_abs": slimmed.parity, "onnx_vs_torch_max_abs": pkg.export.parity_max_abs,
                "baseline_onnx_vs_torch_max_abs": exported.baseline.parity_max_abs,
                **({"rewritten_vs_pruned_onnx_max_abs": pkg.rewrite.parity_max_abs} if pkg.rewrite else {})},
        timings_s={},
        environment=environment(config.threads),
        extras=extras,
        int8=int8,
        **_rewrite_figures(pkg, figures, latency),
    )


def pruned_layers(plan: PrunePlan) -> list[str]:
    """The layers a plan actually cuts: groups that lose channels, or (unstructured) the masked weights' layers."""
    if plan.kind == "unstructured":
        return sorted(name.rsplit(".", 1)[0] for name, m in plan.masks.items() if not bool(m.all()))
    return [g for g, kept in plan.keep.items() if len(kept) < plan.sizes.get(g, len(kept))]


def _rewrite_figures(pkg: PackageResult, figures: ModelFigures, latency: dict[str, LatencyResult]) -> dict[str, Any]:
    """report.json's "pruned" stage (the slim model before rewrites) and "rewrites" list, when rewrites ran.

    The rewrites change only the ONNX graph, so the pruned stage's counts, accuracy and PyTorch latency are the slim
    model's; its ONNX size and onnxruntime latency are its own."""
    if pkg.rewrite is None or pkg.unrewritten is None:
        return {}
    own = latency["pruned"].latency_ms
    lat = {rt: own.get(rt, by_batch) for rt, by_batch in latency["slim"].latency_ms.items()}
    pruned = StageFigures(figures.count.params, figures.count.macs, figures.count.flops, figures.accuracy,
                          len(pkg.unrewritten), lat)
    return {"pruned": pruned, "rewrites": [r.to_dict() for r in pkg.rewrite.rewrites]}


def _count_summary(c: Any) -> dict[str, Any]:
    return {"params": c.params, "macs": c.macs, "flops": c.flops, "counters": c.counters,
            "skipped_ops": c.skipped_ops, "disagreements": c.disagreements}


def _zipped_sizes(out: Path) -> dict[str, int]:
    import zlib

    return {name: len(zlib.compress((out / name).read_bytes(), 9)) for name in ("baseline.onnx", "slim.onnx")}


def _metadata(bundle: Bundle, config: CompressConfig, base_acc: float, slim_acc: float) -> dict[str, str]:
    from eegdeploy.export.metadata import model_metadata

    return {
        "eegdeploy.version": __version__,
        **model_metadata(bundle),
        "eegdeploy.recipe": f"method={config.method} ratio={config.ratio} recover={config.recover} seed={config.seed}",
        "eegdeploy.accuracy_baseline": f"{base_acc:.4f}",
        "eegdeploy.accuracy_slim": f"{slim_acc:.4f}",
    }


def _portable_meta(bundle: Bundle, config: CompressConfig, meta: dict[str, str]) -> dict[str, Any]:
    return {"input": bundle.input.to_dict(), "class_names": list(bundle.class_names), "profile": bundle.profile,
            "source_arch": bundle.arch, "recipe": {"method": config.method, "ratio": config.ratio,
                                                    "recover": config.recover, "seed": config.seed},
            "onnx_metadata": meta}


def _accuracy_extras(bundle: Bundle, splits: Splits, plan: PrunePlan, config: CompressConfig, recipe: TrainConfig,
                     base_acc: float | None, slim_acc: float | None) -> dict[str, Any]:
    """extras.accuracy: both accuracies with the data, test-set size, 95% interval and training behind them."""
    from eegdeploy.report.accuracy import accuracy_section

    epochs = recipe.epochs if config.recover != "none" else 0
    md = bundle.metadata
    if md.get("epochs") is not None:
        base_training = f"trained {md['epochs']} epoch(s) on {md.get('trained_on', 'data not recorded')} (eegdeploy train)"
    else:
        base_training = "as given (its training is not recorded in the checkpoint)"
    method_notes = [n for n in plan.notes if "epoch" in n]
    slim_training = (f"baseline weights pruned by {plan.method}" + (f" ({method_notes[0]})" if method_notes else "")
                     + (f", then {config.recover} for {epochs} epoch(s)" if config.recover != "none" and epochs
                        else ", no recovery training"))
    return accuracy_section(base_acc, slim_acc, len(splits.test), splits.source, baseline_training=base_training,
                            slim_training=slim_training, profile=bundle.profile)


def _write_reports(result: CompressResult, out: Path, bundle: Bundle, pkg: PackageResult) -> None:
    from eegdeploy.export import card_from_bundle, write_package_card
    from eegdeploy.report.plots import plot_channels, plot_comparison
    from eegdeploy.report.render import to_markdown

    plots = [plot_comparison(result, out / "comparison.png").name]
    kg = result.extras.get("kg")
    if kg:
        from eegdeploy.recover.kg import plot_evidence

        maps = {k: np.asarray(v) for k, v in kg.pop("maps").items()}
        plots.append(plot_evidence(maps, bundle.input, out / "evidence.png", kg["region"]).name)
    plan = result.extras["plan"]
    if plan.get("keep"):
        plots.append(plot_channels(plan, out / "channels.png").name)
    write_text(out / "report.md", to_markdown(result, plots=plots))
    write_json(out / "report.json", result.to_dict())
    card = card_from_bundle(bundle, arch=bundle.arch, accuracy_baseline=result.baseline.accuracy,
                            accuracy_slim=result.slim.accuracy, params=result.slim.params, macs=result.slim.macs,
                            recipe=result.recipe, title="slim",
                            accuracy=result.extras.get("accuracy"))
    write_package_card(pkg, out, card, latency=result.slim.latency_ms)
