"""Pruning methods: a registry of scoring rules and schedules, each with a frozen config.

    plan = prune(model, LFPConfig(ratio=0.5), example=x)
    plan = prune(model, make_config("nsfp", 0.5, sparsity=1e-4), example=x, splits=splits, train=recipe)

A method decides *what* to cut and returns a PrunePlan; ``apply_masks``/``slim`` do the cutting, the same way for
every method. Methods that train (sfp, nsfp) train ``model`` in place and say so with ``trains = True``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value, unknown_name
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import Analysis, ChannelGroup, analyse

SCOPES = ("layer", "global")


@dataclass(frozen=True)
class MethodConfig:
    """What every pruning method's config holds: the ``ratio`` to remove, module names or ``re:`` patterns to
    ``keep`` whole, and whether hidden linear layers on flattened features (a CNN's dense head, CCNN's ``lin1``)
    count as prunable (``include_linear``; off by default: the papers prune conv filters).

    Subclasses add their own options and check them in ``validate``. ``to_dict``/``from_dict`` round-trip a config
    through JSON with the method's name and a format version, so sweeps and reports can record and replay it.
    """

    VERSION: ClassVar[int] = 1
    method: ClassVar[str] = ""  # set by @register

    ratio: float = 0.5
    keep: tuple[str, ...] = ()
    include_linear: bool = False
    # per-dimension overrides of ``ratio`` (None: ``ratio``), by group kind: attention heads, MLP hidden width,
    # embedding width (the residual stream). Depth is opt-in: ``ratio_depth`` 0 drops no residual block.
    ratio_heads: float | None = None
    ratio_mlp: float | None = None
    ratio_embed: float | None = None
    ratio_depth: float = 0.0

    def __post_init__(self) -> None:
        check_ratio(self.ratio)
        for name in ("ratio_heads", "ratio_mlp", "ratio_embed"):
            if getattr(self, name) is not None:
                check_ratio(getattr(self, name), name)
        d = self.ratio_depth
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= float(d) < 1.0:
            raise invalid_value("ratio_depth", d, "a number in [0, 1) (0: no residual block dropped)")
        if isinstance(self.keep, str) or not all(isinstance(k, str) for k in self.keep):
            raise invalid_value("keep", self.keep, "a list of module names or re:REGEX patterns")
        object.__setattr__(self, "keep", tuple(self.keep))
        if not isinstance(self.include_linear, bool):
            raise invalid_value("include_linear", self.include_linear, "true or false")
        self.validate()

    def validate(self) -> None:
        """Check the method's own options (raise ConfigError); the base fields are already checked."""

    def options(self) -> dict[str, Any]:
        """The method's own options, ``include_linear`` and the per-dimension ratios (everything but ratio and
        keep)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("ratio", "keep")}

    def kind_ratio(self, kind: str) -> float:
        """The ratio for groups of ``kind`` (channels | heads | hidden | embedding | depth)."""
        override = {"heads": self.ratio_heads, "hidden": self.ratio_mlp, "embedding": self.ratio_embed,
                    "depth": self.ratio_depth}.get(kind)
        return float(self.ratio if override is None else override)

    def overrides(self, analysis: Analysis) -> dict[str, float]:
        """Group name -> ratio for the width groups whose kind has its own ratio (the rest use ``ratio``)."""
        given = {"heads": self.ratio_heads, "hidden": self.ratio_mlp, "embedding": self.ratio_embed}
        return {g.name: float(given[g.kind]) for g in analysis.groups  # type: ignore[arg-type]
                if given.get(g.kind) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "version": self.VERSION, "ratio": float(self.ratio), "keep": list(self.keep),
                **self.options()}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "MethodConfig":
        """The config ``to_dict`` wrote, of whichever method it names."""
        if not isinstance(d, Mapping) or "method" not in d:
            raise ConfigError("not a method config (no 'method' key)", fix="give what MethodConfig.to_dict wrote")
        version = d.get("version", 1)
        if version != MethodConfig.VERSION:
            raise invalid_value("method config version", version, f"{MethodConfig.VERSION}")
        rest = {k: v for k, v in d.items() if k not in ("method", "version", "ratio", "keep")}
        return make_config(str(d["method"]), d.get("ratio", 0.5), keep=tuple(d.get("keep", ())), **rest)


class Method:
    """A pruning method: a scoring rule and schedule that turns a model into a PrunePlan (it never cuts)."""

    name: ClassVar[str] = ""
    config_type: ClassVar[type[MethodConfig]] = MethodConfig
    trains: ClassVar[bool] = False
    structured: ClassVar[bool] = True  # removes channels, heads, widths or blocks (uwmp: single weights)

    @classmethod
    def depth_importance(cls) -> Any:
        """How blocks are ranked when ``ratio_depth`` > 0 (the method's filter norm; default L1)."""
        from eegdeploy.prune.importance import L1Importance

        return L1Importance()

    def plan(self, model: nn.Module, config: MethodConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        """The plan for ``model`` (``config`` is an instance of ``config_type``); methods that train do so in place."""
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}
_BY_CONFIG: dict[type[MethodConfig], type[Method]] = {}


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: add a Method to ``METHODS`` under ``name`` and route its config type to it."""
    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        cls.config_type.method = name
        METHODS[name] = cls
        _BY_CONFIG[cls.config_type] = cls
        return cls
    return deco


def check_ratio(ratio: Any, name: str = "ratio") -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise invalid_value(name, ratio, "a number in (0, 1)")


def make_config(name: str, ratio: float, *, keep: Sequence[str] = (), **options: Any) -> MethodConfig:
    """The config of method ``name``; unknown methods or options fail with the valid ones listed."""
    if name not in METHODS:
        raise unknown_name("method", name, sorted(METHODS))
    cls = METHODS[name].config_type
    fields = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(options) - fields)
    if bad:
        allowed = sorted(fields - {"ratio", "keep"})
        raise ConfigError(f"method {name} has no option {', '.join(bad)}",
                          fix=f"its options are: {', '.join(allowed) or 'none'}")
    return cls(ratio=ratio, keep=tuple(keep), **options)


def prune(model: nn.Module, config: MethodConfig, *, example: torch.Tensor, splits: Any = None, train: Any = None,
          seed: int = 0) -> PrunePlan:
    """Plan the pruning of ``model`` with the method ``config`` belongs to (looked up by the config's type)."""
    cls = _BY_CONFIG.get(type(config))
    if cls is None:
        raise ConfigError(f"{type(config).__name__} is not a pruning method's config",
                          fix=f"use one of: {', '.join(sorted(c.config_type.__name__ for c in METHODS.values()))}")
    plan = cls().plan(model, config, example=example, splits=splits, train=train, seed=seed)
    plan.input_shape = tuple(example.shape[1:])
    if plan.kind == "structured" and config.ratio_depth > 0:  # opt-in: without it the plan has no depth entry
        add_depth(plan, method_analysis(model, example, config), config.ratio_depth,
                  cls.depth_importance())
    return plan


def add_depth(plan: PrunePlan, analysis: Analysis, ratio: float, importance: Any = None) -> PrunePlan:
    """Add the analysis's depth groups to a structured plan: every block kept at ``ratio`` 0, else the
    lowest-scoring ``ratio`` of each depth group's blocks dropped (at least one kept). Scores come from
    ``importance`` (an Importance; default L1): the norm of the weights each block writes back with."""
    from eegdeploy.prune.importance import L1Importance

    imp = importance or L1Importance()
    for g in analysis.depth:
        plan.sizes[g.name] = g.size
        plan.keep[g.name] = list(range(g.size))
        if ratio <= 0:
            continue
        if not g.prunable:
            plan.notes.append(f"{g.name}: every block kept ({g.reason})")
            continue
        k = n_remove(ratio, g.size)
        order = torch.argsort(imp(analysis, g), stable=True)
        plan.keep[g.name] = sorted(int(i) for i in order[k:])
        if k:
            gone = [analysis.blocks[g.name][int(i)].name for i in order[:k]]
            plan.notes.append(f"{g.name}: drops {k} of {g.size} blocks ({', '.join(gone)})")
    return plan


# CLI flag (argparse dest) -> (the method it belongs to, or "*" for every method; the config field it sets)
OPTION_FLAGS: dict[str, tuple[str, str]] = {
    "scope": ("lfp", "scope"), "sfp_schedule": ("sfp", "schedule"), "sfp_epochs": ("sfp", "epochs"),
    "sparsity": ("nsfp", "sparsity"), "include_linear": ("*", "include_linear"),
    "ratio_heads": ("structured", "ratio_heads"), "ratio_mlp": ("structured", "ratio_mlp"),
    "ratio_embed": ("structured", "ratio_embed"), "ratio_depth": ("structured", "ratio_depth"),
}  # "*": every method; "structured": the structured methods among those run (all of them if none is)


def options_from_flags(values: Mapping[str, Any], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-method config options from flag values (``None``: the flag was not given), for ``compress`` (one
    method) and ``sweep`` (several). A flag for a method that is not run is an error, not ignored; every value
    is checked now by building the config, before any work."""
    opts: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for flag, (method, field) in OPTION_FLAGS.items():
        value = values.get(flag)
        if value is None:
            continue
        if method not in ("*", "structured") and method not in methods:
            name = "--" + flag.replace("_", "-")
            raise ConfigError(f"{name} applies to {method}, not to --method(s) {','.join(methods)}",
                              fix=f"drop {name} or add {method} to the methods")
        targets = (method,) if method not in ("*", "structured") else tuple(methods)
        if method == "structured":  # a sweep's uwmp cells ignore them; uwmp alone says why it cannot take them
            targets = tuple(m for m in methods if m in METHODS and METHODS[m].structured) or targets
        for m in targets:
            opts[m][field] = value
    for m, o in opts.items():
        make_config(m, 0.5, **o)
    return {m: o for m, o in opts.items() if o}


LINEAR_OPT_IN = "hidden linear layer (prune it with --include-linear)"


def dense_head_layers(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Linear layers that read flattened features (input of rank 2: batch x features), like CCNN's ``lin1``.

    Token-wise linears (rank 3 and up: attention projections, transformer MLPs) are a transformer's filters and are
    not in this set.
    """
    seen: set[str] = set()
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.add(n) if i and i[0].dim() == 2 else None)
             for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return seen


def method_analysis(model: nn.Module, example: torch.Tensor, config: MethodConfig) -> Analysis:
    """The channel analysis a method ranks on: ``keep`` applied and, unless ``include_linear``, groups made only by
    dense-head linear layers kept whole with the reason recorded (the papers prune conv filters)."""
    analysis = analyse(model, example, keep=config.keep)
    if config.include_linear:
        return analysis
    heads = dense_head_layers(model, example)
    for g in analysis.groups:
        if g.prunable and g.producers and all(p in heads for p in g.producers):
            g.prunable, g.reason = False, LINEAR_OPT_IN
    return analysis


def n_remove(ratio: float, size: int) -> int:
    """Channels to remove from a group of ``size`` at ``ratio``: floor, at least one kept."""
    return max(0, min(size - 1, int(math.floor(ratio * size + 1e-9))))


def plan_from_scores(analysis: Analysis, scores: dict[str, torch.Tensor], ratio: float, *, scope: str = "layer",
                     method: str = "lfp", ratios: dict[str, float] | None = None,
                     overrides: dict[str, float] | None = None) -> PrunePlan:
    """Keep the highest-scoring units: per group at ``ratio`` (or ``ratios[group]``), or ranked globally.

    Global ranking normalises each group's scores by their mean so layers of different scale compare, removes
    the lowest ``ratio`` of all prunable units, and keeps at least one unit per group. Groups in ``overrides``
    (per-dimension ratios: ``MethodConfig.overrides``) are pruned alone at their own ratio in either scope.
    """
    overrides = overrides or {}
    if scope not in SCOPES:
        raise unknown_name("scope", scope, SCOPES)
    analysis.require_prunable()
    groups = {g.name: g for g in analysis.groups}
    plan = PrunePlan(method=method, ratio=float(ratio), input_shape=analysis.input_shape)
    for g in analysis.groups:
        plan.sizes[g.name] = g.size
        plan.keep[g.name] = list(range(g.size))
        if not g.prunable:
            plan.notes.append(f"{g.name}: kept whole ({g.reason})")
    prunable = [n for n in scores if groups[n].prunable]
    alone = prunable if scope == "layer" or ratios is not None else [n for n in prunable if n in overrides]
    for n in alone:
        r = ratios.get(n, ratio) if ratios is not None else overrides.get(n, ratio)
        k = n_remove(r, groups[n].size)
        order = torch.argsort(scores[n], stable=True)
        plan.keep[n] = sorted(int(i) for i in order[k:])
    if scope == "layer" or ratios is not None:
        return plan
    prunable = [n for n in prunable if n not in overrides]
    pool = []
    for n in prunable:
        s = scores[n].double()
        mean = s.mean()
        norm = s / mean if mean > 0 else s
        pool += [(float(v), n, i) for i, v in enumerate(norm)]
    total = n_remove(ratio, len(pool)) if pool else 0
    pool.sort(key=lambda t: t[0])
    drop: dict[str, set[int]] = {n: set() for n in prunable}
    for v, n, i in pool:
        if total == 0:
            break
        if len(drop[n]) < groups[n].size - 1:
            drop[n].add(i)
            total -= 1
    for n in prunable:
        plan.keep[n] = [i for i in range(groups[n].size) if i not in drop[n]]
    return plan


def prunable_groups(analysis: Analysis) -> list[ChannelGroup]:
    return [g for g in analysis.groups if g.prunable]
