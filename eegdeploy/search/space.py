"""A transformer search space (TNAS-style) built from the channel analysis of a model.

Per block: the number of attention heads and the MLP hidden width; globally: the embedding width (the residual
stream). The blocks are the analysis's ``heads`` and ``hidden`` groups paired in graph order. Units of every
searchable group are ranked once by L1 importance (``order``); a subnet keeps the top-k units of each group, so
a smaller subnet's channels are a subset of a larger one's (weight sharing by nesting) and it is slimmed with the
same exact ``slim`` as ``compress``. The full-width subnet is the model itself.

Per block also: kept or dropped (depth), where the channel analysis proves the block's residual branches can be
dropped whole (``analysis.depth``, a ``depth:<container>`` group): a dropped block's branches are replaced by
zeros by ``slim``. At least one block stays: a subnet that drops them all keeps the most important one (L1 of the
layers each block writes back with).

A space file (TOML or JSON) may set the grids::

    embedding = [16, 24, 32]      # widths of the residual stream
    heads = [1, 2, 4]             # heads per block
    mlp_ratio = [0.5, 1.0, 2.0]   # MLP hidden width = ratio x the model's embedding width
    drop = true                   # blocks may be dropped whole (default: where the model allows it)
    [blocks.1]                    # per-block override, by block index
    heads = [2, 4]
    drop = false
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError
from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import Analysis, analyse

DEPTH_NOTE = ("depth is not searched: the channel analysis found no residual blocks it can prove droppable "
              "('eegdeploy inspect' says why)")
EMBED_FRACTIONS = (0.5, 0.625, 0.75, 0.875, 1.0)
HIDDEN_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
SPACE_KEYS = ("embedding", "heads", "mlp_ratio", "drop", "blocks")
BLOCK_KEYS = ("heads", "mlp_ratio", "drop")


@dataclass
class BlockSpace:
    name: str  # module path shared by the block's layers (e.g. "transformer.layers.0")
    heads_group: str | None
    heads: int  # the model's head count (units of the heads group)
    heads_choices: tuple[int, ...]
    hidden_group: str | None
    hidden: int  # the model's MLP hidden width
    hidden_choices: tuple[int, ...]
    drop_choices: tuple[int, ...] = (1,)  # 0 = dropped, 1 = kept; (0, 1) where the block may be dropped
    depth_index: int | None = None  # the block's index in the depth group


@dataclass
class TransformerSpace:
    blocks: list[BlockSpace]
    embedding_group: str | None
    embedding: int
    embedding_choices: tuple[int, ...]
    order: dict[str, list[int]]  # group -> unit indices, most important first
    sizes: dict[str, int]
    input_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=lambda: [DEPTH_NOTE])
    depth_group: str | None = None  # the analysis's depth group the blocks belong to (None: depth not searched)
    depth_size: int = 0
    depth_order: list[int] = field(default_factory=list)  # depth-group block indices, most important first

    # genes: [embedding, heads_0, hidden_0, heads_1, hidden_1, ..., kept_0, kept_1, ...], each an index into its
    # choices; the kept genes are there only when depth is searched
    def choices(self) -> list[tuple[int, ...]]:
        out = [self.embedding_choices]
        for b in self.blocks:
            out += [b.heads_choices, b.hidden_choices]
        if self.depth_group:
            out += [b.drop_choices for b in self.blocks]
        return out

    def size(self) -> int:
        return math.prod(len(c) for c in self.choices())

    def decode(self, genes: list[int]) -> dict[str, Any]:
        ch = self.choices()
        vals = [ch[i][int(g)] for i, g in enumerate(genes)]
        n = len(self.blocks)
        kept = vals[1 + 2 * n:] + [1] * (n - len(vals[1 + 2 * n:]))  # no kept genes: every block kept
        if not any(kept):  # at least one block stays: the most important
            mine = {b.depth_index: i for i, b in enumerate(self.blocks)}
            kept[next(mine[j] for j in self.depth_order if j in mine)] = 1
        return {"embedding": vals[0],
                "blocks": [{"heads": vals[1 + 2 * i], "hidden": vals[2 + 2 * i], "kept": bool(kept[i])}
                           for i in range(n)]}


    def largest(self) -> list[int]:
        return [len(c) - 1 for c in self.choices()]

    def smallest(self) -> list[int]:
        return [0] * len(self.choices())

    def sample(self, rng: random.Random) -> list[int]:
        return [rng.randrange(len(c)) for c in self.choices()]

    def plan(self, genes: list[int], method: str = "subnet") -> PrunePlan:
        """The subnet as a PrunePlan: the top-k units of each group by the importance order."""
        sub = self.decode(genes)
        want: dict[str, int] = {}
        if self.embedding_group:
            want[self.embedding_group] = sub["embedding"]
        for b, s in zip(self.blocks, sub["blocks"]):
            if not s["kept"]:
                continue  # a dropped block's widths do not matter: its branches go whole
            if b.heads_group:
                want[b.heads_group] = s["heads"]
            if b.hidden_group:
                want[b.hidden_group] = s["hidden"]
        keep = {g: sorted(self.order[g][:k]) for g, k in want.items()}
        total = sum(self.sizes[g] for g in keep) or 1
        ratio = 1.0 - sum(len(k) for k in keep.values()) / total
        sizes = {g: self.sizes[g] for g in keep}
        dropped = {b.depth_index for b, s in zip(self.blocks, sub["blocks"]) if not s["kept"]}
        if self.depth_group and dropped:
            keep[self.depth_group] = [j for j in range(self.depth_size) if j not in dropped]
            sizes[self.depth_group] = self.depth_size
        return PrunePlan(method=method, ratio=float(ratio), keep=keep, sizes=sizes, notes=list(self.notes),
                         input_shape=self.input_shape)

    def describe(self, genes: list[int]) -> str:
        sub = self.decode(genes)
        blocks = " ".join(f"{s['heads']}h/{s['hidden']}" if s["kept"] else "dropped" for s in sub["blocks"])
        return f"embedding {sub['embedding']}; heads/MLP per block: {blocks}"

    def to_dict(self) -> dict[str, Any]:
        return {"embedding": {"group": self.embedding_group, "model": self.embedding,
                              "choices": list(self.embedding_choices)},
                "blocks": [{"name": b.name, "heads_group": b.heads_group, "heads": b.heads,
                            "heads_choices": list(b.heads_choices), "hidden_group": b.hidden_group,
                            "hidden": b.hidden, "hidden_choices": list(b.hidden_choices),
                            "droppable": 0 in b.drop_choices} for b in self.blocks],
                "depth_group": self.depth_group, "size": self.size(), "notes": list(self.notes)}


def _prefix(names: list[str]) -> str:
    parts = [n.split(".") for n in names]
    out = []
    for seg in zip(*parts):
        if len(set(seg)) != 1:
            break
        out.append(seg[0])
    return ".".join(out)


def _grid(full: int, fractions: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(sorted({max(1, int(round(full * f))) for f in fractions}))


def _default_heads(h: int) -> tuple[int, ...]:
    return tuple(range(1, h + 1)) if h <= 8 else _grid(h, (0.25, 0.5, 0.75, 1.0))


def build_space(model: nn.Module, example: torch.Tensor, spec: dict[str, Any] | None = None, *,
                analysis: Analysis | None = None, where: str = "search space",
                stored_order: bool = False) -> TransformerSpace:
    """The space of ``model``: groups from the channel analysis, grids from ``spec`` (a parsed space file) or
    derived from the model. A model without attention-head groups is not a transformer to this space.

    Units are ranked by L1 importance, or taken in storage order with ``stored_order`` (a supernet whose
    weights ``sort_by_importance`` put in order before training: its subnets are storage prefixes)."""
    analysis = analysis or analyse(model, example)
    pr = [g for g in analysis.groups if g.prunable]
    heads = [g for g in pr if g.kind == "heads"]
    hidden = [g for g in pr if g.kind == "hidden"]
    emb = [g for g in pr if g.kind == "embedding"]
    if not heads:
        raise ConfigError("this model has no prunable attention-head groups, so it has no transformer search space",
                          fix="use 'eegdeploy search' without a space on CNNs (per-group keep ratios); "
                              "'eegdeploy inspect MODEL' lists the groups")
    hidden = hidden[:len(heads)] if len(hidden) >= len(heads) else hidden
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SPACE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}", fix=f"use only {', '.join(SPACE_KEYS)}")
    emb_group = emb[0] if emb else None
    emb_full = emb_group.size if emb_group else 0
    # the model's embedding width for mlp_ratio: the residual stream, prunable or not
    width = emb_full or _stream_width(analysis)
    imp = L1Importance()
    order: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    for g in heads + hidden[:len(heads)] + ([emb_group] if emb_group else []):
        if stored_order:
            order[g.name] = list(range(g.size))
        else:
            scores = imp(analysis, g).numpy()
            order[g.name] = [int(i) for i in np.argsort(-scores, kind="stable")]
        sizes[g.name] = g.size
    overrides = spec.get("blocks", {})
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: 'blocks' must be a table of block index -> {{heads, mlp_ratio}}",
                          fix="write [blocks.0] heads = [1, 2]")
    for k, v in overrides.items():
        if not (str(k).isdigit() and int(k) < len(heads)) or not isinstance(v, dict):
            raise ConfigError(f"{where}: blocks.{k} is not a block of this model (it has {len(heads)})",
                              fix=f"use block indices 0..{len(heads) - 1}")
        bad = sorted(set(v) - set(BLOCK_KEYS))
        if bad:
            raise ConfigError(f"{where}: blocks.{k}: unknown key {bad[0]!r}", fix="use heads or mlp_ratio")
    blocks = []
    for i, hg in enumerate(heads):
        mg = hidden[i] if i < len(hidden) else None
        ov = overrides.get(str(i), overrides.get(i, {}))
        hc = _ints(ov.get("heads", spec.get("heads")), hg.size, f"{where}: heads", "head count") \
            if ("heads" in ov or "heads" in spec) else _default_heads(hg.size)
        if mg is not None:
            ratios = ov.get("mlp_ratio", spec.get("mlp_ratio"))
            if ratios is None:
                mc = _grid(mg.size, HIDDEN_FRACTIONS)
            else:
                mc = _ratios(ratios, width, mg.size, f"{where}: mlp_ratio")
        else:
            mc = (0,)
        name = _prefix(hg.producers + (mg.producers if mg else [])) or f"block{i}"
        drop = ov.get("drop", spec.get("drop"))
        if drop is not None and not isinstance(drop, bool):
            raise ConfigError(f"{where}: drop must be true or false, not {str(drop)[:20]!r}",
                              fix="write drop = true (blocks may be dropped) or drop = false")
        blocks.append(BlockSpace(name, hg.name, hg.size, hc, mg.name if mg else None, mg.size if mg else 0, mc,
                                 (1,) if drop is False else (0, 1)))
    if "embedding" in spec:
        if emb_group is None:
            raise ConfigError(f"{where}: this model's embedding width cannot be searched (it is kept whole)",
                              fix="remove 'embedding' from the space file ('eegdeploy inspect' says why)")
        ec = _ints(spec["embedding"], emb_full, f"{where}: embedding", "embedding width")
    else:
        ec = _grid(emb_full, EMBED_FRACTIONS) if emb_group else (0,)
    depth = _depth_group(analysis, blocks)
    notes = [] if depth else [DEPTH_NOTE]
    if depth is None:
        asked = [i for i, b in enumerate(blocks) if (overrides.get(str(i), overrides.get(i, {})).get("drop",
                                                                                             spec.get("drop")))]
        if asked:
            raise ConfigError(f"{where}: drop = true, but this model's blocks cannot be dropped whole",
                              fix="remove 'drop' from the space file ('eegdeploy inspect' says why)")
        for b in blocks:
            b.drop_choices = (1,)
    if emb_group is None:
        notes.append("the embedding width is kept whole by the analysis (see 'eegdeploy inspect')")
    if depth is not None:
        scores = imp(analysis, depth).numpy()
        depth_order = [int(i) for i in np.argsort(-scores, kind="stable")]
    return TransformerSpace(blocks, emb_group.name if emb_group else None, emb_full, ec, order, sizes,
                            tuple(analysis.input_shape), notes, depth.name if depth else None,
                            depth.size if depth else 0, depth_order if depth else [])


def _depth_group(analysis: Analysis, blocks: list[BlockSpace]) -> Any:
    """The prunable depth group whose blocks hold every searched block (each block's index set on it), or None."""
    for g in getattr(analysis, "depth", []):
        if not g.prunable:
            continue
        idx = []
        for b in blocks:
            j = next((j for j, p in enumerate(g.producers) if b.name == p or b.name.startswith(p + ".")), None)
            if j is None:
                break
            idx.append(j)
        if len(idx) == len(blocks) and len(set(idx)) == len(idx):
            for b, j in zip(blocks, idx):
                b.depth_index = j
            return g
    return None


@torch.no_grad()
def sort_by_importance(model: nn.Module, space: TransformerSpace, example: torch.Tensor, *,
                       analysis: Analysis | None = None) -> TransformerSpace:
    """Permute ``model``'s weights in place so that every searched group stores its units most important first;
    returns the space with the identity order.

    The permutation is function-preserving: every parameter and buffer axis the channel analysis ties to a unit
    moves with it (a head's q, k and v rows and its columns of the output projection; an MLP unit's row, bias
    and column; an embedding channel in every layer, LayerNorm and positional table that carries the residual
    stream), and the model's output is checked before and after. Afterwards the top-k units of a group are its
    first k in storage, so a smaller subnet's weights are a prefix of a larger one's (per fused block, e.g. of
    each of q, k and v) and slicing needs no gather.
    """
    from eegdeploy.errors import ParityError
    from eegdeploy.prune import SLIM_TOLERANCE

    analysis = analysis or analyse(model, example)
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn((4, *example.shape[1:]), generator=gen, dtype=example.dtype)
    was = model.training
    model.eval()
    before = model(probe)
    tensors = {**dict(model.named_buffers()), **dict(model.named_parameters())}
    for gname, order in space.order.items():
        if order == sorted(order):
            continue
        units = analysis.group(gname).units
        for fqn, axes in analysis.params.items():
            t = tensors.get(fqn)
            if t is None:
                continue
            for axis, slots in axes.items():
                owner = analysis.unit_of[slots]
                pos = [np.flatnonzero(owner == u) for u in units]
                if not any(len(p) for p in pos):
                    continue
                if len({len(p) for p in pos}) != 1:
                    raise ParityError(f"group {gname!r}: its units have different widths in {fqn!r} (axis {axis}), "
                                      "so they cannot be reordered", fix="report this with the model")
                src = np.arange(t.shape[axis])
                for i, j in enumerate(order):  # unit i's positions receive the i-th most important unit
                    src[pos[i]] = pos[j]
                t.copy_(t.index_select(axis, torch.from_numpy(src)))
    diff = float((model(probe) - before).abs().max())
    model.train(was)
    if not diff <= SLIM_TOLERANCE:
        raise ParityError(f"sorting the units by importance changed the model's output by {diff:.3g}",
                          fix="report this with the model")
    space.order = {g: list(range(len(o))) for g, o in space.order.items()}
    return space


def structure(model: nn.Module, plan: PrunePlan, example: torch.Tensor, *,
              analysis: Analysis | None = None) -> dict[str, Any] | None:
    """A transformer's shape before and after ``plan``: embedding width, depth, and per block whether it is kept,
    its heads and its MLP width (each as [before, after]). None for a model without attention-head groups."""
    analysis = analysis or analyse(model, example)
    if not has_space(analysis):
        return None
    space = build_space(model, example, analysis=analysis)

    def kept(group: str | None, full: int) -> int:
        return len(plan.keep[group]) if group and group in plan.keep else full

    gone = set(dropped_block_indices(plan, space.depth_group, space.depth_size))
    dropped = {i for i, b in enumerate(space.blocks) if b.depth_index in gone}
    blocks = [{"name": b.name, "kept": i not in dropped,
               "heads": [b.heads, 0 if i in dropped else kept(b.heads_group, b.heads)],
               "mlp": [b.hidden, 0 if i in dropped else kept(b.hidden_group, b.hidden)]}
              for i, b in enumerate(space.blocks)]
    width = space.embedding or _stream_width(analysis)
    return {"embedding": [width, kept(space.embedding_group, width)],
            "depth": [len(blocks), len(blocks) - len(dropped)], "blocks": blocks}


def dropped_block_indices(plan: PrunePlan, depth_group: str | None, size: int) -> list[int]:
    """Indices (in ``depth_group``) of the blocks a plan drops whole: its depth entry lists the kept ones."""
    if not depth_group or depth_group not in plan.keep:
        return []
    keep = set(plan.keep[depth_group])
    return [i for i in range(size) if i not in keep]


def has_space(analysis: Analysis) -> bool:
    """Whether the model has a transformer search space (prunable attention-head groups)."""
    return any(g.prunable and g.kind == "heads" for g in analysis.groups)


def _stream_width(analysis: Analysis) -> int:
    for g in analysis.groups:
        if g.kind == "embedding":
            return g.size
    return 0


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"{where} must be a non-empty list, not {str(v)[:40]!r}", fix="write e.g. [1, 2, 4]")
    return list(v)


def _ints(v: Any, full: int, where: str, what: str) -> tuple[int, ...]:
    out = set()
    for x in _list(v, where):
        if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= full:
            raise ConfigError(f"{where}: choice {str(x)[:20]} is not a {what} between 1 and {full} (the model's)",
                              fix=f"use integers from 1 to {full}")
        out.add(x)
    return tuple(sorted(out))


def _ratios(v: Any, width: int, full: int, where: str) -> tuple[int, ...]:
    out = set()
    for x in _list(v, where):
        n = int(round(float(x) * width)) if isinstance(x, (int, float)) and not isinstance(x, bool) and width else 0
        if not 1 <= n <= full:
            top = full / width if width else 0
            raise ConfigError(f"{where}: ratio {str(x)[:20]} gives MLP width {n}, outside 1..{full} "
                              f"(embedding width {width})", fix=f"use ratios in (0, {top:g}]")
        out.add(n)
    return tuple(sorted(out))


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON space file into a dict (validated against the model by ``build_space``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"space file {str(path)!r} not found", fix="check the --space path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read space file {str(path)!r} ({type(err).__name__})",
                          fix="give a TOML or JSON space file") from None
    try:
        if path.suffix.lower() == ".json":
            from eegdeploy.limits import parse_json

            d = parse_json(text, f"space file {str(path)!r}", lambda m, f: ConfigError(m, fix=f))
        else:
            import tomllib

            d = tomllib.loads(text)
    except (json.JSONDecodeError, ValueError) as err:
        raise ConfigError(f"space file {str(path)!r} is not valid {'JSON' if path.suffix == '.json' else 'TOML'} "
                          f"({str(err).splitlines()[0][:80]})", fix="fix the syntax (see docs/search.md)") from None
    if not isinstance(d, dict):
        raise ConfigError(f"space file {str(path)!r} must hold a table", fix="write keys embedding, heads, mlp_ratio")
    return d
