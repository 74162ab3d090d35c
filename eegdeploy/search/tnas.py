"""NSGA-II over a transformer search space (TNAS-style): embedding width, heads and MLP width per block.

A candidate is a gene vector of the space (``TransformerSpace.decode``); it is sliced from the (supernet-trained)
weights with the exact ``slim`` and scored on the validation split without training of its own. Objectives:
validation accuracy against params (TNAS's pair), MACs or latency (the per-layer lookup table). Uniform slimming
(the same keep fraction in every searched group, top-k by the same importance order) is evaluated on the same
axes. Every evaluated candidate is kept; the front is recomputed from all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value, unknown_name
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.surgery import slim
from eegdeploy.search.core import Candidate, SearchResult, dominates, recalibrate_bn
from eegdeploy.search.space import TransformerSpace

TNAS_OBJECTIVES = ("params", "macs", "latency")
UNIFORM_KEEP = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class TnasConfig:
    objective: str = "params"
    population: int = 12
    generations: int = 4
    max_params: float | None = None  # fraction of baseline params
    seed: int = 0
    lut_batch: int = 16

    def __post_init__(self) -> None:
        if self.objective not in TNAS_OBJECTIVES:
            raise unknown_name("objective", self.objective, TNAS_OBJECTIVES)
        if self.population < 4:
            raise invalid_value("population", self.population, "an integer >= 4")
        if self.generations < 1:
            raise invalid_value("generations", self.generations, "an integer >= 1")
        if self.max_params is not None and not 0 < self.max_params <= 1:
            raise invalid_value("max-params", self.max_params, "a fraction of the baseline params in (0, 1]")


def cost(c: Candidate, objective: str) -> float:
    return float(c.params if objective == "params" else c.macs if objective == "macs" else (c.latency_ms or 0.0))


def objectives(c: Candidate, objective: str) -> tuple[float, float]:
    return (-c.accuracy, cost(c, objective))


def front_of(cands: list[Candidate], objective: str) -> list[Candidate]:
    feas = [c for c in cands if c.feasible]
    front = [c for c in feas if not any(dominates(objectives(o, objective), objectives(c, objective)) for o in feas)]
    seen, out = set(), []
    for c in sorted(front, key=lambda c: cost(c, objective)):
        k = objectives(c, objective)
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def knee(front: list[Candidate], objective: str) -> Candidate:
    if len(front) <= 2:
        return max(front, key=lambda c: c.accuracy)
    pts = np.array([objectives(c, objective) for c in front], dtype=float)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    norm = (pts - lo) / np.where(hi > lo, hi - lo, 1)
    a, b = norm[0], norm[-1]
    d = np.abs(np.cross(b - a, norm - a)) / (np.linalg.norm(b - a) + 1e-12)
    return front[int(np.argmax(d))]


def uniform_plan(space: TransformerSpace, keep: float) -> PrunePlan:
    """The same keep fraction in every searched group (top-k by the space's importance order)."""
    k = {g: sorted(order[:max(1, int(round(keep * len(order))))]) for g, order in space.order.items()}
    return PrunePlan(method="uniform", ratio=1.0 - keep, keep=k, sizes=dict(space.sizes),
                     input_shape=space.input_shape)


@dataclass
class TnasEvaluator:
    model: nn.Module
    space: TransformerSpace
    splits: Any
    example: torch.Tensor
    cfg: TnasConfig
    base: Any = None
    lut: Any = None
    cache: dict[tuple[int, ...], Candidate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from eegdeploy.bench import count

        self.model.eval()
        self.base = count(self.model, self.example, cross_check=False)
        if self.cfg.objective == "latency":
            from eegdeploy.prune.trace import analyse
            from eegdeploy.search.lut import LatencyLUT

            an = analyse(self.model, self.example)
            self.lut = LatencyLUT(self.model, an, self.example, batch=self.cfg.lut_batch)
            pairs = [(self.lut.raw_ms(self.space.plan(self.space.largest())),
                      self.lut.measure_ms(self.model, self.example))]
            for f in UNIFORM_KEEP:
                p = uniform_plan(self.space, f)
                pairs.append((self.lut.raw_ms(p), self.lut.measure_ms(slim(self.model, p, self.example,
                                                                             verify=False), self.example)))
            self.lut.calibrate(pairs)

    def evaluate_plan(self, plan: PrunePlan, genes: list[int], source: str) -> Candidate:
        from eegdeploy.bench import count
        from eegdeploy.recover.loop import evaluate

        small = slim(self.model, plan, self.example, verify=False)
        recalibrate_bn(small, self.splits.train.X)  # a no-op without BatchNorm (ViT); conformer's convs have it
        acc = evaluate(small, self.splits.val if len(self.splits.val) else self.splits.test)
        c = count(small, self.example, cross_check=False)
        lat = self.lut.predict_ms(plan) if self.lut else None
        feasible = self.cfg.max_params is None or c.params <= self.cfg.max_params * self.base.params + 1e-9
        keep = {g: len(k) / plan.sizes[g] for g, k in plan.keep.items()}
        d = plan.to_dict()
        if genes:
            d["subnet"] = self.space.decode(genes)
        return Candidate(genes=list(genes), keep_ratios=keep, accuracy=acc, macs=c.macs, params=c.params,
                         latency_ms=lat, macs_fraction=c.macs / self.base.macs, feasible=feasible, source=source,
                         plan=d)

    def evaluate(self, genes: list[int]) -> Candidate:
        key = tuple(int(g) for g in genes)
        if key not in self.cache:
            self.cache[key] = self.evaluate_plan(self.space.plan(list(key), method="tnas"), list(key), "search")
        return self.cache[key]


def tnas_search(model: nn.Module, space: TransformerSpace, splits: Any, example: torch.Tensor, cfg: TnasConfig, *,
                progress: Callable[[str], None] | None = None) -> SearchResult:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    from eegdeploy.search.core import evaluate_base

    say = progress or (lambda m: None)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    ev = TnasEvaluator(model, space, splits, example, cfg)
    ch = space.choices()
    evaluated: list[Candidate] = []
    # the largest and smallest subnets are always evaluated: the front spans the space
    for genes in (space.largest(), space.smallest()):
        evaluated.append(ev.evaluate(genes))

    class Problem(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(ch), n_obj=2, n_ieq_constr=1 if cfg.max_params else 0, xl=0,
                             xu=np.array([len(c) - 1 for c in ch]), vtype=int)

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            genes = [int(round(v)) for v in x]
            cand = ev.evaluate(genes)
            if cand not in evaluated:
                evaluated.append(cand)
                say(f"candidate {len(evaluated)}: accuracy {100 * cand.accuracy:.1f}%, params {cand.params:,}, "
                    f"{space.describe(genes)}")
            out["F"] = list(objectives(cand, cfg.objective))
            if cfg.max_params:
                out["G"] = [cand.params / ev.base.params - cfg.max_params]

    fixed = [i for i, c in enumerate(ch) if len(c) == 1]
    if len(fixed) == len(ch):
        raise ConfigError("the search space has a single subnet", fix="give more than one choice in the space file")
    algo = NSGA2(pop_size=cfg.population, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    minimize(Problem(), algo, ("n_gen", cfg.generations), seed=cfg.seed, verbose=False)
    uniform = [ev.evaluate_plan(uniform_plan(space, f), [], f"uniform-{f:g}") for f in UNIFORM_KEEP]
    front = front_of(evaluated, cfg.objective)
    if not front:
        raise ConfigError("no evaluated subnet meets --max-params", fix="raise --max-params or the population")
    chosen = knee(front, cfg.objective)
    base = {"accuracy": evaluate_base(model, splits), "macs": ev.base.macs, "params": ev.base.params,
            "latency_ms": ev.lut.calibration[0]["measured_ms"] if ev.lut else None,
            "groups": list(space.order), "space": space.to_dict()}
    return SearchResult(base, evaluated, front, uniform, chosen, cfg.objective)


FRONT_HEAD = ["", "accuracy (val) %", "params", "MACs (of baseline)", "latency ms (predicted)", "embedding",
              "heads / MLP per block (or dropped)"]


def front_rows(res: SearchResult, *, uniform: bool = True) -> list[list[str]]:
    """One row per front point (the chosen one marked), then the uniform points: the columns of ``FRONT_HEAD``."""

    def row(mark: str, c: Candidate) -> list[str]:
        sub = c.plan.get("subnet")
        emb = str(sub["embedding"]) if sub else "uniform"
        blocks = " ".join(f"{b['heads']}/{b['hidden']}" if b.get("kept", True) else "dropped"
                          for b in sub["blocks"]) if sub else \
            f"keep {100 * next(iter(c.keep_ratios.values()), 1):.0f}% of every group"
        return [mark, f"{100 * c.accuracy:.1f}", f"{c.params:,}", f"{100 * c.macs_fraction:.1f}%",
                f"{c.latency_ms:.2f}" if c.latency_ms else "-", emb, blocks]

    rows = [row("**chosen**" if c is res.chosen else "front", c) for c in res.front]
    return rows + ([row(c.source, c) for c in res.uniform] if uniform else [])


def front_markdown(res: SearchResult, space: TransformerSpace, command: str = "") -> str:
    from eegdeploy.report.render import markdown_table

    obj = res.objective
    head, rows = FRONT_HEAD, front_rows(res)
    full = space.decode(space.largest())
    lines = ["# Transformer search (TNAS-style): Pareto front", "",
             f"Objectives: validation accuracy and {obj}; {len(res.candidates)} subnets evaluated of "
             f"{space.size():,}; unpruned: accuracy {100 * res.baseline['accuracy']:.1f}%, "
             f"{res.baseline['params']:,} params, {res.baseline['macs']:,} MACs, embedding {full['embedding']}, "
             "heads/MLP per block " + " ".join(f"{b['heads']}/{b['hidden']}" for b in full["blocks"]) + ".", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [markdown_table(head, rows), "", "![front](front.png)", ""]
    lines += [f"Note: {n}." for n in space.notes] + [""]
    return "\n".join(lines)


def write_tnas(res: SearchResult, space: TransformerSpace, out: Any, command: str = "") -> None:
    from eegdeploy.io import write_json, write_text
    from eegdeploy.search.report import plot_front

    write_json(out / "candidates.json", res.to_dict())
    write_text(out / "front.md", front_markdown(res, space, command))
    plot_front(res, out / "front.png", evaluated="evaluated subnets", uniform="uniform")
    write_json(out / "plan.json", res.chosen.plan)
