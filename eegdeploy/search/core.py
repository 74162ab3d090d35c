"""NSGA-II search over per-group keep ratios.

A candidate keeps, in every prunable channel group, a fraction of its channels drawn from ``KEEP_LEVELS`` (the
top-L1 ones, as LFP would). Each candidate is slimmed and evaluated: a short recovery (``epochs``) or, with
``epochs=0``, BatchNorm recalibration on training batches, then validation accuracy, MACs (eegdeploy's counter)
and, for the latency objective, the per-layer lookup table. pymoo's NSGA-II drives the population; every
evaluated candidate is kept, and the reported front is recomputed from all of them (no front point is dominated
by any evaluated candidate).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value, unknown_name
from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.methods import n_remove, plan_from_scores, prunable_groups
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.surgery import slim
from eegdeploy.prune.trace import analyse

KEEP_LEVELS = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
OBJECTIVES = ("macs", "latency")


@dataclass(frozen=True)
class SearchConfig:
    objective: str = "macs"  # second objective besides accuracy
    population: int = 12
    generations: int = 4
    epochs: int = 0  # 0: BatchNorm recalibration only
    max_macs: float | None = None  # fraction of baseline MACs
    max_latency_ms: float | None = None
    seed: int = 0
    lut_batch: int = 16
    keep_levels: tuple[float, ...] = KEEP_LEVELS

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise unknown_name("objective", self.objective, OBJECTIVES)
        if self.population < 4:
            raise invalid_value("population", self.population, "an integer >= 4")
        if self.generations < 1:
            raise invalid_value("generations", self.generations, "an integer >= 1")
        if self.max_macs is not None and not 0 < self.max_macs <= 1:
            raise invalid_value("max-macs", self.max_macs, "a fraction of the baseline MACs in (0, 1]")
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise invalid_value("max-latency-ms", self.max_latency_ms, "a positive number of milliseconds")


@dataclass
class Candidate:
    genes: list[int]  # index into keep_levels per prunable group
    keep_ratios: dict[str, float]
    accuracy: float
    macs: int
    params: int
    latency_ms: float | None
    macs_fraction: float
    feasible: bool
    source: str = "search"  # search | uniform-lfp
    plan: dict[str, Any] = field(default_factory=dict)

    def objectives(self, objective: str) -> tuple[float, float]:
        return (-self.accuracy, float(self.macs) if objective == "macs" else float(self.latency_ms or 0.0))


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(cands: list[Candidate], objective: str) -> list[Candidate]:
    """Feasible candidates that no other feasible evaluated candidate dominates, sorted by cost."""
    feas = [c for c in cands if c.feasible]
    front = [c for c in feas if not any(dominates(o.objectives(objective), c.objectives(objective)) for o in feas)]
    seen, out = set(), []
    for c in sorted(front, key=lambda c: c.objectives(objective)[1]):
        key = tuple(c.objectives(objective))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def candidate_plan(analysis: Any, scores: dict[str, torch.Tensor], keep_ratios: dict[str, float]) -> PrunePlan:
    """LFP ranking inside each group, with a keep ratio per group."""
    ratios = {g: 1.0 - k for g, k in keep_ratios.items()}
    plan = plan_from_scores(analysis, scores, 0.0, method="search", ratios=ratios)
    plan.ratio = float(1.0 - np.mean(list(keep_ratios.values()))) if keep_ratios else 0.0
    return plan


@torch.no_grad()
def recalibrate_bn(model: nn.Module, X: np.ndarray, batches: int = 8, batch_size: int = 64) -> None:
    """Re-estimate BatchNorm statistics after slimming (cumulative average over a few training batches)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m.momentum,) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(min(batches, math.ceil(len(X) / batch_size))):
        model(torch.as_tensor(X[i * batch_size:(i + 1) * batch_size]))
    for m, (mom,) in zip(norms, saved):
        m.momentum = mom
    model.eval()


@dataclass
class SearchResult:
    baseline: dict[str, Any]
    candidates: list[Candidate]
    front: list[Candidate]
    uniform: list[Candidate]
    chosen: Candidate
    objective: str
    lut_check: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "objective": self.objective,
                "candidates": [asdict(c) for c in self.candidates], "front": [asdict(c) for c in self.front],
                "uniform_lfp": [asdict(c) for c in self.uniform], "chosen": asdict(self.chosen),
                "lut_check": self.lut_check}


class _Evaluator:
    def __init__(self, model: nn.Module, splits: Any, example: torch.Tensor, cfg: SearchConfig, train: Any) -> None:
        from eegdeploy.bench import count

        self.model, self.splits, self.example, self.cfg, self.train = model.eval(), splits, example, cfg, train
        self.analysis = analyse(model, example)
        self.groups = [g.name for g in prunable_groups(self.analysis)]
        if not self.groups:
            raise ConfigError("this model has no prunable channel groups to search over",
                              fix="check 'eegdeploy inspect MODEL'")
        imp = L1Importance()
        self.scores = {g.name: imp(self.analysis, g) for g in prunable_groups(self.analysis)}
        self.base = count(model, example, cross_check=False)
        self.lut = None
        if cfg.objective == "latency" or cfg.max_latency_ms is not None:
            from eegdeploy.search.lut import LatencyLUT

            self.lut = LatencyLUT(model, self.analysis, example, batch=cfg.lut_batch)
            pairs = [(self.lut.raw_ms(candidate_plan(self.analysis, self.scores, {g: 1.0 for g in self.groups})),
                      self.lut.measure_ms(model, example))]
            for r in (0.25, 0.5, 0.75):
                plan = plan_from_scores(self.analysis, self.scores, r, method="lfp")
                pairs.append((self.lut.raw_ms(plan), self.lut.measure_ms(slim(model, plan, example, verify=False),
                                                                           example)))
            self.lut.calibrate(pairs)
        self.cache: dict[tuple[float, ...], Candidate] = {}

    def evaluate(self, keep_ratios: dict[str, float], genes: list[int], source: str = "search") -> Candidate:
        key = tuple(keep_ratios[g] for g in self.groups)
        if key in self.cache and source == "search":
            return self.cache[key]
        c = evaluate_candidate(self, keep_ratios, genes, source)
        if source == "search":
            self.cache[key] = c
        return c


def evaluate_candidate(ev: _Evaluator, keep_ratios: dict[str, float], genes: list[int], source: str = "search"
                       ) -> Candidate:
    """Slim, recover (or recalibrate BatchNorm), then measure accuracy, MACs and predicted latency."""
    from eegdeploy.bench import count
    from eegdeploy.recover.loop import evaluate, fit

    plan = candidate_plan(ev.analysis, ev.scores, keep_ratios)
    small = slim(ev.model, plan, ev.example, verify=False)
    if ev.cfg.epochs > 0:
        from dataclasses import replace

        fit(small, ev.splits, replace(ev.train, epochs=ev.cfg.epochs), seed=ev.cfg.seed)
    else:
        recalibrate_bn(small, ev.splits.train.X)
    acc = evaluate(small, ev.splits.val if len(ev.splits.val) else ev.splits.test)
    c = count(small, ev.example, cross_check=False)
    lat = ev.lut.predict_ms(plan) if ev.lut else None
    frac = c.macs / ev.base.macs
    feasible = (ev.cfg.max_macs is None or frac <= ev.cfg.max_macs + 1e-9) and \
               (ev.cfg.max_latency_ms is None or (lat is not None and lat <= ev.cfg.max_latency_ms))
    return Candidate(genes=list(genes), keep_ratios=dict(keep_ratios), accuracy=acc, macs=c.macs, params=c.params,
                     latency_ms=lat, macs_fraction=frac, feasible=feasible, source=source, plan=plan.to_dict())


def _knee(front: list[Candidate], objective: str) -> Candidate:
    if len(front) <= 2:
        return max(front, key=lambda c: c.accuracy)
    pts = np.array([c.objectives(objective) for c in front], dtype=float)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    norm = (pts - lo) / np.where(hi > lo, hi - lo, 1)
    a, b = norm[0], norm[-1]
    d = np.abs(np.cross(b - a, norm - a)) / (np.linalg.norm(b - a) + 1e-12)
    return front[int(np.argmax(d))]


def search(model: nn.Module, splits: Any, example: torch.Tensor, cfg: SearchConfig, *, train: Any = None,
           progress: Callable[[str], None] | None = None) -> SearchResult:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    say = progress or (lambda m: None)
    torch.manual_seed(cfg.seed)
    ev = _Evaluator(model, splits, example, cfg, train)
    levels = cfg.keep_levels
    evaluated: list[Candidate] = []
    constrained = cfg.max_macs is not None or cfg.max_latency_ms is not None

    class Problem(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(ev.groups), n_obj=2, n_ieq_constr=1 if constrained else 0,
                             xl=0, xu=len(levels) - 1, vtype=int)

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            genes = [int(round(v)) for v in x]
            cand = ev.evaluate({g: levels[i] for g, i in zip(ev.groups, genes)}, genes)
            if cand not in evaluated:
                evaluated.append(cand)
                say(f"candidate {len(evaluated)}: accuracy {100 * cand.accuracy:.1f}%, MACs "
                    f"{100 * cand.macs_fraction:.0f}%" + (f", {cand.latency_ms:.2f} ms" if cand.latency_ms else ""))
            out["F"] = list(cand.objectives(cfg.objective))
            if constrained:
                g = []
                if cfg.max_macs is not None:
                    g.append(cand.macs_fraction - cfg.max_macs)
                if cfg.max_latency_ms is not None:
                    g.append((cand.latency_ms or 0.0) - cfg.max_latency_ms)
                out["G"] = [max(g)]

    algo = NSGA2(pop_size=cfg.population, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    minimize(Problem(), algo, ("n_gen", cfg.generations), seed=cfg.seed, verbose=False)
    uniform = []
    for r in (0.25, 0.5, 0.75):
        keep = {g: 1.0 - n_remove(r, next(x.size for x in ev.analysis.groups if x.name == g)) /
                next(x.size for x in ev.analysis.groups if x.name == g) for g in ev.groups}
        uniform.append(evaluate_candidate(ev, keep, [], source=f"uniform-lfp-{r:g}"))
    front = pareto_front(evaluated, cfg.objective)
    if not front:
        raise ConfigError("no evaluated candidate meets the constraint",
                          fix="loosen --max-macs/--max-latency-ms or raise --population/--generations")
    chosen = _knee(front, cfg.objective)
    lut_check = []
    if ev.lut is not None:
        for c in front[:5]:
            small = slim(model, PrunePlan.from_dict(c.plan), example, verify=False)
            lut_check.append({"predicted_ms": c.latency_ms or 0.0, "measured_ms": ev.lut.measure_ms(small, example)})
    base = {"accuracy": evaluate_base(model, splits), "macs": ev.base.macs, "params": ev.base.params,
            "latency_ms": ev.lut.calibration[0]["measured_ms"] if ev.lut else None, "groups": ev.groups,
            "lut_calibration": ev.lut.calibration if ev.lut else None}
    return SearchResult(base, evaluated, front, uniform, chosen, cfg.objective, lut_check)


def evaluate_base(model: nn.Module, splits: Any) -> float:
    from eegdeploy.recover.loop import evaluate

    return evaluate(model, splits.val if len(splits.val) else splits.test)
