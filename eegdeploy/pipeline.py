"""compress(): baseline → prune → slim → recover → export → bench → report.

Each stage is a library call with its own config; this module only wires them
and keeps the clock. Structured plans are slimmed before recovery (training
the slim network is cheaper than training a masked dense one, and the
slim-vs-pruned proof is made on the exact weights the plan chose); unstructured
plans recover under their masks and are slimmed after.
"""

from __future__ import annotations

import copy
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn

from eegdeploy._version import __version__
from eegdeploy.config import TrainConfig
from eegdeploy.data.types import Splits
from eegdeploy.errors import ConfigError, ParityError, invalid_value, unknown_name
from eegdeploy.io import Staging, write_bytes, write_json, write_text
from eegdeploy.models.bundle import Bundle
from eegdeploy.recover import evaluate, fit
from eegdeploy.report.schema import CompressResult, StageFigures

RECOVERY = ("finetune", "scratch", "none")
SLIM_TOLERANCE = 1e-5


@dataclass(frozen=True)
class CompressConfig:
    """What ``eegdeploy compress`` does; CLI flags mirror these fields."""

    method: str = "lfp"
    ratio: float = 0.5
    recover: str = "finetune"
    epochs: int | None = None  # None: the profile's recipe
    seed: int = 0
    keep: tuple[str, ...] = ()
    method_options: Mapping[str, Any] = field(default_factory=dict)  # scope, sparsity, sfp_schedule, ...
    train: TrainConfig | None = None  # recovery recipe; None: the profile's
    batches: tuple[int, ...] = (1, 64)
    threads: int = 1
    iters: int = 30
    warmup: int = 5
    runtimes: tuple[str, ...] = ("ort-cpu", "torch-cpu")
    tolerance: float = 1e-4
    plan_path: str | None = None
    kg: Mapping[str, Any] | None = None  # knowledge-guided recovery: mode, region, weight, layer

    def __post_init__(self) -> None:
        if not (isinstance(self.ratio, (int, float)) and 0.0 < float(self.ratio) < 1.0):
            raise invalid_value("ratio", self.ratio, "a number in (0, 1)")
        if self.recover not in RECOVERY:
            raise unknown_name("recovery", self.recover, RECOVERY)
        if self.epochs is not None and self.epochs < 0:
            raise invalid_value("epochs", self.epochs, "an integer >= 0")
        if not self.batches or any(b < 1 for b in self.batches):
            raise invalid_value("batch", list(self.batches), "positive batch sizes such as 1,64")


Progress = Callable[[str, str], None]  # (stage, message)


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


def environment(threads: int) -> dict[str, Any]:
    import onnxruntime as ort

    from eegdeploy.bench.env import cpu_name

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "threads": threads, "torch": torch.__version__,
            "onnxruntime": ort.__version__, "gpu": gpu, "python": platform.python_version()}


def max_abs_diff(a: nn.Module, b: nn.Module, inputs: torch.Tensor) -> float:
    a.eval()
    b.eval()
    with torch.no_grad():
        return float((a(inputs) - b(inputs)).abs().max())


def parity_inputs(bundle: Bundle, splits: Splits, n: int = 16, seed: int = 0) -> torch.Tensor:
    """Random inputs plus real test samples: both must agree."""
    g = torch.Generator().manual_seed(seed)
    rand = torch.randn((n, *bundle.input.shape), generator=g)
    real = torch.from_numpy(np.ascontiguousarray(splits.test.X[:n], dtype=np.float32))
    return torch.cat([rand, real]) if len(real) else rand


def _reinit(model: nn.Module, seed: int) -> None:
    torch.manual_seed(seed + 7919)
    for m in model.modules():
        if hasattr(m, "reset_parameters") and m is not model:
            m.reset_parameters()


def compress(bundle: Bundle, splits: Splits, config: CompressConfig, out_dir: Path | str, *,
             train: TrainConfig, progress: Progress | None = None) -> CompressResult:
    """Run the whole pipeline; artifacts appear in ``out_dir`` only if every stage succeeded."""
    from eegdeploy.bench import compare_latency, count, nonzero_params
    from eegdeploy.export import ExportConfig, export_onnx, write_test_vectors
    from eegdeploy.models.portable import save_portable
    from eegdeploy.prune import apply_masks, make_config, prune, slim
    from eegdeploy.prune.plan import PrunePlan

    say = progress or (lambda stage, msg: None)
    if config.kg:
        from eegdeploy.recover.kg import KGConfig, region_mask

        region_mask(bundle.input, KGConfig(**config.kg).region)  # a bad region fails before any work
    clock = _Clock()
    torch.manual_seed(config.seed)
    recipe_train = replace(config.train or train, epochs=config.epochs if config.epochs is not None else (config.train or train).epochs)
    epochs = recipe_train.epochs if config.recover != "none" else 0
    baseline = copy.deepcopy(bundle.module).eval()
    example = torch.zeros((1, *bundle.input.shape))
    extras: dict[str, Any] = {"notes": [], "training": {}}

    with Staging(out_dir) as stage:
        out = stage.path
        with clock.stage("baseline"):
            say("baseline", "evaluating and counting the baseline")
            base_acc = evaluate(baseline, splits.test)
            base_count = count(baseline, example)

        with clock.stage("prune"):
            if config.plan_path:
                import json

                plan = PrunePlan.from_dict(json.loads(Path(config.plan_path).read_text()))
                say("prune", f"applying plan {config.plan_path}")
            else:
                method_cfg = make_config(config.method, config.ratio, keep=config.keep, **dict(config.method_options))
                say("prune", f"{config.method} at ratio {config.ratio}")
                work = copy.deepcopy(baseline)
                plan = prune(work, method_cfg, example=example, splits=splits, train=recipe_train, seed=config.seed)
                baseline_for_plan = work  # methods that train (sfp, nsfp) leave their trained weights here
        source = baseline_for_plan if not config.plan_path else copy.deepcopy(baseline)
        checks = parity_inputs(bundle, splits, seed=config.seed)

        if plan.kind == "structured":
            with clock.stage("slim"):
                pruned = apply_masks(copy.deepcopy(source), plan).eval()
                slim_model = slim(source, plan, example).eval()
                slim_diff = max_abs_diff(slim_model, pruned, checks)
                if slim_diff > SLIM_TOLERANCE:
                    raise ParityError(f"the slim model differs from the pruned model by {slim_diff:.3g} "
                                      f"(tolerance {SLIM_TOLERANCE})", fix="report this; exclude the layer with --keep")
            if config.recover != "none" and epochs > 0:
                with clock.stage("recover"):
                    if config.recover == "scratch":
                        _reinit(slim_model, config.seed)
                    say("recover", f"{config.recover}, {epochs} epochs on the slim network")
                    res = _recover(slim_model, splits, recipe_train, config, bundle, extras, say, ())
                    extras["training"]["recovery"] = res.__dict__ | {"history": res.history}
        else:
            from eegdeploy.prune.callbacks import KeepMasks

            with clock.stage("recover"):
                masked = apply_masks(copy.deepcopy(source), plan)
                if config.recover == "scratch":
                    _reinit(masked, config.seed)
                    apply_masks(masked, plan)
                if config.recover != "none" and epochs > 0:
                    say("recover", f"{config.recover}, {epochs} epochs under the weight masks")
                    res = _recover(masked, splits, recipe_train, config, bundle, extras, say, (KeepMasks(plan),))
                    extras["training"]["recovery"] = res.__dict__ | {"history": res.history}
            with clock.stage("slim"):
                from eegdeploy.prune import dead_channel_plan

                masked.eval()
                dead = dead_channel_plan(masked, example)
                removed = sum(dead.sizes[g] - len(k) for g, k in dead.keep.items())
                slim_model = slim(masked, dead, example).eval() if removed else copy.deepcopy(masked).eval()
                extras["dead_channels_removed"] = removed
                slim_diff = max_abs_diff(slim_model, masked, checks)
                if slim_diff > SLIM_TOLERANCE:
                    raise ParityError(f"the slim model differs from the masked model by {slim_diff:.3g}",
                                      fix="report this; exclude the layer with --keep")

        with clock.stage("evaluate"):
            slim_acc = evaluate(slim_model, splits.test)
            slim_count = count(slim_model, example)

        meta = _metadata(bundle, config, base_acc, slim_acc)
        with clock.stage("export"):
            say("export", "baseline.onnx and slim.onnx, checked in onnxruntime")
            xcfg = ExportConfig(tolerance=config.tolerance)
            check_np = checks.numpy()
            base_x = export_onnx(baseline, out / "baseline.onnx", xcfg, example=example,
                                 metadata=meta | {"eegdeploy.stage": "baseline"}, check_inputs=check_np)
            slim_x = export_onnx(slim_model, out / "slim.onnx", xcfg, example=example,
                                 metadata=meta | {"eegdeploy.stage": "slim"}, check_inputs=check_np)
            vectors = np.ascontiguousarray(splits.test.X[:8], dtype=np.float32)
            if len(vectors) == 0:
                vectors = checks[:8].numpy()
            write_test_vectors(out / "slim.onnx", vectors, out / "test-vectors.npz")
            save_portable(slim_model, example, out / "slim.pt", meta=_portable_meta(bundle, config, meta))

        with clock.stage("bench"):
            say("bench", f"latency, batches {list(config.batches)}, {config.threads} thread(s), interleaved")
            base_lat, slim_lat = compare_latency(
                baseline=(baseline, out / "baseline.onnx"), slim=(slim_model, out / "slim.onnx"),
                example=example, batches=config.batches, threads=config.threads, iters=config.iters,
                warmup=config.warmup, runtimes=config.runtimes)
            extras["notes"] += base_lat.notes

        result = CompressResult(
            eegdeploy_version=__version__,
            model={"name": bundle.name, "arch": bundle.arch, "input_shape": list(bundle.input.shape),
                   "num_classes": bundle.num_classes, "class_names": list(bundle.class_names)},
            recipe={"method": plan.method, "ratio": float(config.ratio), "recover": config.recover,
                    "epochs": int(epochs), "seed": int(config.seed), "keep": list(config.keep),
                    "options": dict(config.method_options), "train": recipe_train.__dict__},
            data={"source": splits.source, **splits.sizes()},
            baseline=StageFigures(base_count.params, base_count.macs, base_count.flops, base_acc, base_x.bytes,
                                  base_lat.latency_ms),
            slim=StageFigures(slim_count.params, slim_count.macs, slim_count.flops, slim_acc, slim_x.bytes,
                              slim_lat.latency_ms,
                              nonzero_params=nonzero_params(slim_model) if plan.kind == "unstructured" else None),
            parity={"slim_vs_pruned_max_abs": slim_diff, "onnx_vs_torch_max_abs": slim_x.parity_max_abs,
                    "baseline_onnx_vs_torch_max_abs": base_x.parity_max_abs},
            timings_s={},
            environment=environment(config.threads),
            extras=extras,
        )
        extras["plan"] = plan.to_dict()
        extras["export"] = {"baseline": _export_summary(base_x), "slim": _export_summary(slim_x)}
        extras["counting"] = {"convention": base_count.convention, "baseline": _count_summary(base_count),
                              "slim": _count_summary(slim_count)}
        if plan.kind == "unstructured":
            extras["notes"].append(
                "unstructured pruning: weights are zeroed, not removed, so dense latency does not drop; "
                "see non-zero params and the zipped ONNX size instead of a speedup")
            extras["compressed_bytes"] = _zipped_sizes(out)
        with clock.stage("report"):
            _write_reports(result, out, bundle, slim_x, plan.to_dict())
        result.timings_s = dict(clock.timings)
        write_json(out / "report.json", result.to_dict())  # again, now with the report stage's time
        stage.commit()
    return result


def _recover(model: nn.Module, splits: Splits, train: TrainConfig, config: CompressConfig, bundle: Bundle,
             extras: dict[str, Any], say: Progress, callbacks: tuple[Any, ...]) -> Any:
    """Recovery training; with knowledge-guided losses, also a plain run from the same weights and seed so the
    report can compare the two (the knowledge-guided model is the one kept)."""
    if not config.kg:
        return fit(model, splits, train, seed=config.seed, callbacks=list(callbacks))
    from eegdeploy.recover.kg import KGConfig, KnowledgeGuided, evidence, evidence_share

    kg = KGConfig(**config.kg)
    test = splits.test if len(splits.test) else splits.val
    share = lambda m: evidence_share(m, test.X, test.y, bundle.input, kg.region, layer=kg.layer)  # noqa: E731
    before = share(model)
    before_map = evidence(model, test.X, test.y, bundle.input, layer=kg.layer)
    say("recover", "plain recovery first, for comparison")
    plain = copy.deepcopy(model)
    plain_res = fit(plain, splits, train, seed=config.seed, callbacks=list(callbacks))
    say("recover", f"knowledge-guided recovery ({kg.mode}, region {kg.region}, weight {kg.weight:g})")
    cb = KnowledgeGuided(kg, bundle.input, model)
    try:
        res = fit(model, splits, train, seed=config.seed, callbacks=[*callbacks, cb])
    finally:
        cb.close()
    extras["kg"] = {
        "mode": kg.mode, "region": kg.region if isinstance(kg.region, str) else list(kg.region), "weight": kg.weight,
        "layer": cb.evidence.name, "share_before": before,
        "plain": {"share": share(plain), "accuracy": evaluate(plain, splits.test),
                  "best_val_accuracy": plain_res.best_val_accuracy, "seconds": plain_res.seconds},
        "kg": {"share": share(model), "accuracy": evaluate(model, splits.test),
               "best_val_accuracy": res.best_val_accuracy, "seconds": res.seconds},
        "cost_per_batch_s": cb.cost_per_batch_s,
        "maps": {"before recovery": before_map.tolist(),
                 "plain recovery": evidence(plain, test.X, test.y, bundle.input, layer=kg.layer).tolist(),
                 "knowledge-guided": evidence(model, test.X, test.y, bundle.input, layer=kg.layer).tolist()},
    }
    return res


def vectors_count(out: Path) -> int | None:
    try:
        with np.load(out / "test-vectors.npz") as f:
            return int(f["inputs"].shape[0])
    except (OSError, KeyError, ValueError):
        return None


def _export_summary(x: Any) -> dict[str, Any]:
    if hasattr(x, "to_dict"):
        d = x.to_dict()
        d["path"] = str(d.get("path", ""))
        return d
    return {"exporter": x.exporter, "opset": x.opset, "simplified": x.simplified, "bytes": x.bytes,
            "parity_max_abs": x.parity_max_abs, "warnings": list(x.warnings), "seconds": x.seconds}


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


def _write_reports(result: CompressResult, out: Path, bundle: Bundle, slim_x: Any, plan: dict[str, Any]) -> None:
    from eegdeploy.export import ModelCardInfo, render_model_card
    from eegdeploy.report.plots import plot_channels, plot_comparison
    from eegdeploy.report.render import to_markdown

    plots = [plot_comparison(result, out / "comparison.png").name]
    kg = result.extras.get("kg")
    if kg:
        import numpy as np

        from eegdeploy.recover.kg import plot_evidence

        maps = {k: np.asarray(v) for k, v in kg.pop("maps").items()}
        plots.append(plot_evidence(maps, bundle.input, out / "evidence.png", kg["region"]).name)
    if plan.get("keep"):
        plots.append(plot_channels(plan, out / "channels.png").name)
    write_text(out / "report.md", to_markdown(result, plots=plots))
    write_json(out / "report.json", result.to_dict())
    card = ModelCardInfo(
        name=bundle.name, arch=bundle.arch, input_shape=tuple(bundle.input.shape), layout=tuple(bundle.input.layout),
        electrodes=tuple(bundle.input.electrodes), sampling_rate=bundle.input.sampling_rate,
        preprocessing=bundle.input.preprocessing, class_names=tuple(bundle.class_names),
        accuracy_baseline=result.baseline.accuracy, accuracy_slim=result.slim.accuracy,
        params=result.slim.params, macs=result.slim.macs, size_bytes=result.slim.onnx_bytes,
        latency=result.slim.latency_ms, recipe=result.recipe, onnx_file="slim.onnx",
        input_name=slim_x.input_name, output_name=slim_x.output_name, opset=slim_x.opset,
        exporter=slim_x.exporter, parity_max_abs=slim_x.parity_max_abs, num_test_vectors=vectors_count(out),
        extra=list(getattr(slim_x, "notes", [])))
    write_text(out / "model-card.md", render_model_card(card))
