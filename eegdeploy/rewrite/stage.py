"""``rewrite_onnx``: find the linear chains of an exported model, pick each one's fastest exact form, verify.

    from eegdeploy.rewrite import RewriteConfig, rewrite_onnx
    res = rewrite_onnx("slim.onnx", RewriteConfig(batch=64, threads=1))
    Path("fast.onnx").write_bytes(res.model); res.rewrites, res.parity_max_abs

Chains are decided one at a time, in graph order, on the model as rewritten so far (a merge can expose the next
chain). Every candidate form is checked against the model before it (max abs difference on random inputs at most
``tolerance``); one that fails is dropped with a note. A form is kept only when it beats "as-is" by at least
``min_gain`` (measured) or lowers the modelled cost. At the end the whole rewritten model is checked against the
original; if that fails the original is returned unchanged, with a note. Torch-free.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from eegdeploy.errors import InputError, invalid_value
from eegdeploy.rewrite.choose import cost, measure, random_input, run, session
from eegdeploy.rewrite.forms import find_chains
from eegdeploy.rewrite.graph import Graph

__all__ = ["Rewrite", "RewriteConfig", "RewriteResult", "rewrite_onnx"]

OnnxSource = Union[str, Path, bytes]


@dataclass(frozen=True)
class RewriteConfig:
    """How rewrites are chosen. ``measure=False`` uses the cost model instead of timing in onnxruntime."""

    batch: int = 64
    threads: int = 1
    measure: bool = True
    tolerance: float = 1e-4
    min_gain: float = 1.03  # a measured form must be this much faster than as-is to be kept
    rounds: int = 20
    kinds: tuple[str, ...] = ("bn-fold", "conv-chain", "act-pool", "elu-split", "pool-linear")

    def __post_init__(self) -> None:
        for name in ("batch", "threads", "rounds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise invalid_value(name, v, "a positive integer")
        if not isinstance(self.tolerance, (int, float)) or not self.tolerance > 0:
            raise invalid_value("tolerance", self.tolerance, "a number > 0")
        if not isinstance(self.min_gain, (int, float)) or self.min_gain < 1:
            raise invalid_value("min_gain", self.min_gain, "a number >= 1")


@dataclass
class Rewrite:
    """One chain's decision: the layers, the form chosen and what each form cost (ms measured, or model units)."""

    kind: str
    layers: list[str]
    form: str  # "as-is" when nothing beat it
    candidates: dict[str, float]
    unit: str  # "ms" (wall) | "cpu-ms" (CPU time of the one running thread) | "cost" (the cost model)
    gain: float  # as-is / chosen (1.0 for as-is)
    max_abs: float  # chosen form vs the model before it

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidates"] = {k: round(v, 4) if self.unit in ("ms", "cpu-ms") else v for k, v in self.candidates.items()}
        return d


@dataclass
class RewriteResult:
    model: bytes
    rewrites: list[Rewrite] = field(default_factory=list)  # every chain decided, applied or not
    notes: list[str] = field(default_factory=list)
    parity_max_abs: float = 0.0  # rewritten vs original
    seconds: float = 0.0
    measured: bool = True

    @property
    def applied(self) -> list[Rewrite]:
        return [r for r in self.rewrites if r.form != "as-is"]

    def to_dict(self) -> dict[str, Any]:
        return {"rewrites": [r.to_dict() for r in self.rewrites], "notes": list(self.notes),
                "parity_max_abs": self.parity_max_abs, "seconds": round(self.seconds, 3), "measured": self.measured}


def _load(model: OnnxSource) -> Any:
    import onnx

    try:
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        return onnx.load_from_string(data)
    except OSError as err:
        raise InputError(f"cannot read ONNX file {str(model)!r}: {err.strerror}", fix="give an existing .onnx file") from None
    except Exception as err:  # onnx raises DecodeError and friends
        raise InputError(f"{str(model)[:80]!r} is not an ONNX model ({type(err).__name__})",
                         fix="give a .onnx file written by eegdeploy export or torch.onnx.export") from None


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    d = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
    return float("inf") if d != d else d


def rewrite_onnx(model: OnnxSource, config: RewriteConfig = RewriteConfig(), *,
                 check_inputs: np.ndarray | None = None) -> RewriteResult:
    """Rewrite ``model`` (path or bytes) into its fastest exact form; see the module docstring."""
    t0 = time.perf_counter()
    original = _load(model)
    g = Graph(original)
    data0 = g.to_bytes()
    checks = [random_input(data0, 4, seed=1), random_input(data0, 16, seed=2)]
    if check_inputs is not None and len(check_inputs):
        checks.append(np.ascontiguousarray(check_inputs, dtype=np.float32))
    ref0 = [run(session(data0, 1), x) for x in checks]
    timing_x = random_input(data0, config.batch, seed=3) if config.measure else None
    result = RewriteResult(model=data0, measured=config.measure)
    decided: set[tuple[str, ...]] = set()
    while True:
        chains, notes = find_chains(g)
        for n in notes:
            if n not in result.notes:
                result.notes.append(n)
        todo = [c for c in chains if c.key not in decided and c.kind in config.kinds]
        if not todo:
            break
        chain = todo[0]
        decided.add(chain.key)
        current = g.to_bytes()
        ref = [run(session(current, 1), x) for x in checks[:2]]
        built: dict[str, Graph] = {}
        diffs: dict[str, float] = {}
        for form, apply in chain.forms.items():
            cand = Graph(g.model)
            try:
                apply(cand)
                sess = session(cand.to_bytes(), 1)
                d = max(_diff(run(sess, x), r) for x, r in zip(checks[:2], ref))
            except Exception as err:  # onnxruntime refuses the graph: the form is dropped, never shipped
                result.notes.append(f"{' → '.join(chain.nodes)}: {form} not usable ({type(err).__name__})")
                continue
            if d > config.tolerance:
                result.notes.append(f"{' → '.join(chain.nodes)}: {form} differs by {d:.2g} "
                                    f"(tolerance {config.tolerance:g}); kept as is")
                continue
            built[form], diffs[form] = cand, d
        if not built:
            result.rewrites.append(Rewrite(chain.kind, list(chain.nodes), "as-is", {}, "ms", 1.0, 0.0))
            continue
        options = {"as-is": current, **{k: v.to_bytes() for k, v in built.items()}}
        if config.measure:
            # the lower quartile: on a shared machine interference only ever adds time, so it is the steadier figure;
            # with one thread, CPU time of the running thread (see choose.measure): preemption does not count
            clock = "cpu" if config.threads == 1 else "wall"
            scores = measure(options, timing_x, threads=config.threads, rounds=config.rounds, quantile=25.0,
                             clock=clock)
            unit, need = ("cpu-ms" if clock == "cpu" else "ms"), config.min_gain
        else:
            scores = {k: cost(v, config.batch) for k, v in options.items()}
            unit, need = "cost", 1.0 + 1e-9
        best = min(built, key=lambda k: scores[k])
        if scores["as-is"] >= need * scores[best]:
            g = built[best]
            result.rewrites.append(Rewrite(chain.kind, list(chain.nodes), best, scores, unit,
                                           scores["as-is"] / scores[best], diffs[best]))
        else:
            result.rewrites.append(Rewrite(chain.kind, list(chain.nodes), "as-is", scores, unit, 1.0, 0.0))
    final = g.to_bytes()
    sess = session(final, 1)
    result.parity_max_abs = max(_diff(run(sess, x), r) for x, r in zip(checks, ref0))
    if result.parity_max_abs > config.tolerance:
        result.notes.append(f"the rewritten model differs from the original by {result.parity_max_abs:.2g} "
                            f"(tolerance {config.tolerance:g}); the original is kept")
        for r in result.rewrites:
            r.form, r.gain = "as-is", 1.0
        final, result.parity_max_abs = data0, 0.0
    result.model = final
    result.seconds = time.perf_counter() - t0
    return result
