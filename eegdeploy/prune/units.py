"""The result of the channel analysis: slots, units, groups, and which parameter axes they cut.

Every axis of every tensor that carries removable channels gets an array of *slots*; tied slots form a *unit*
(union-find) removed as a whole. Parameters and buffers get slots on their axes too, so removing a unit means
cutting the same positions out of every parameter axis that holds one of its slots, whatever layer type owns it
(conv, linear, norms, positional embeddings, class tokens, a user's layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch.nn as nn


class UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def new(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, a: int) -> int:
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


@dataclass
class Layer:
    """A module whose channels are cut: its input channels (or features) and its output channels as slots."""

    name: str
    module: nn.Module
    in_slots: np.ndarray | None
    out_slots: np.ndarray | None
    kind: str  # conv | linear | norm | layernorm | groupnorm | rnn | custom
    groups_mode: str = ""  # grouped convs: "whole" (whole groups go) or "position" (j-th filter of every group)


@dataclass
class ChannelGroup:
    """Channels that are pruned together, ranked together and kept by index in a plan."""

    name: str
    size: int  # units (removable channels of the first producer)
    producers: list[str]
    members: list[str]
    prunable: bool
    reason: str = ""
    units: list[int] = field(default_factory=list)  # unit roots, in the first producer's channel order
    kind: str = "channels"  # channels | heads | hidden | embedding | depth (units are residual blocks)


@dataclass
class Fixup:
    """An int attribute that ``forward`` reads to split channels into blocks (attention heads): rewritten to the
    number of blocks kept."""

    module: str
    attr: str
    blocks: np.ndarray  # one slot per block


@dataclass
class Analysis:
    layers: dict[str, Layer]
    groups: list[ChannelGroup]
    unit_of: np.ndarray  # slot -> unit root
    frozen: dict[int, str]  # unit root -> reason
    input_shape: tuple[int, ...]
    params: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)  # fqn -> axis -> slots
    fixups: list[Fixup] = field(default_factory=list)
    capture: str = "export"  # export | fx
    # depth (prune/depth.py): groups of kind "depth" named "depth:<container>", whose units are residual blocks
    # (``blocks[name]``, in forward order); adds that are not provably droppable branches, with the reason
    depth: list[ChannelGroup] = field(default_factory=list)
    blocks: dict[str, list[Any]] = field(default_factory=dict)
    depth_refused: list[tuple[str, str]] = field(default_factory=list)

    def group(self, name: str) -> ChannelGroup:
        for g in [*self.groups, *self.depth]:
            if g.name == name:
                return g
        from eegdeploy.errors import ConfigError

        raise ConfigError(f"the plan names group {name!r}, which this model does not have",
                          fix="make the plan for this model (eegdeploy inspect lists its groups)")

    def producer_rows(self, group: ChannelGroup, layer: str) -> list[np.ndarray]:
        """For each unit of the group, the output-channel indices of ``layer`` that belong to it."""
        lay = self.layers[layer]
        units = self.unit_of[lay.out_slots]
        return [np.flatnonzero(units == u) for u in group.units]

    def prunable(self) -> list[ChannelGroup]:
        return [g for g in self.groups if g.prunable]

    def require_prunable(self) -> None:
        """A clear error when no group can be pruned, naming why each is kept whole."""
        if self.prunable():
            return
        from eegdeploy.errors import UnsupportedLayerError

        why = "; ".join(f"{g.name}: {g.reason}" for g in self.groups[:4]) or "no conv or linear layer found"
        more = f" and {len(self.groups) - 4} more" if len(self.groups) > 4 else ""
        raise UnsupportedLayerError(f"nothing in this model can be pruned: every channel group is kept whole ({why}{more})",
                                    fix="see 'eegdeploy inspect' for each group's reason, or use --method uwmp "
                                        "(unstructured) instead")


def build_groups(layers: dict[str, Layer], order: list[str], unit_of: np.ndarray,
                 frozen: dict[int, str]) -> list[ChannelGroup]:
    """Units grouped by the first layer producing them. A later layer whose outputs are existing units (a
    residual branch, a depthwise conv after a concatenation) becomes a co-producer of each group it touches;
    groups are never merged, so every group keeps at least one channel of its own."""
    owner: dict[int, str] = {}
    groups: dict[str, ChannelGroup] = {}
    for name in order:
        lay = layers[name]
        if lay.out_slots is None:
            continue
        seen = list(dict.fromkeys(int(u) for u in unit_of[lay.out_slots]))
        for gname in dict.fromkeys(owner[u] for u in seen if u in owner):
            if name not in groups[gname].producers:
                groups[gname].producers.append(name)
        new = [u for u in seen if u not in owner]
        if new:
            groups[name] = ChannelGroup(name, 0, [name], [], True, "", new)
            for u in new:
                owner[u] = name
    for g in groups.values():
        g.size = len(g.units)
        reasons = [frozen[u] for u in g.units if u in frozen]
        if reasons:
            g.prunable, g.reason = False, reasons[0]
        elif g.size < 2:
            g.prunable, g.reason = False, "a single channel"
        unit_set = set(g.units)
        g.members = [n for n, lay in layers.items()
                     if (lay.out_slots is not None and set(unit_of[lay.out_slots].tolist()) & unit_set)
                     or (lay.in_slots is not None and set(unit_of[lay.in_slots].tolist()) & unit_set)]
    return list(groups.values())


def param_axes_from_layers(layers: dict[str, Layer]) -> dict[str, dict[int, np.ndarray]]:
    """Parameter axes of module-level layers (the fx fallback records layers, not parameter uses)."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for name, lay in layers.items():
        m = lay.module
        pre = f"{name}." if name else ""
        if lay.kind in ("conv", "linear"):
            w: dict[int, np.ndarray] = {}
            if lay.out_slots is not None:
                w[0] = lay.out_slots
            if lay.in_slots is not None and getattr(m, "groups", 1) == 1:
                w[1] = lay.in_slots
            out[pre + "weight"] = w
            if getattr(m, "bias", None) is not None and lay.out_slots is not None:
                out[pre + "bias"] = {0: lay.out_slots}
        elif lay.kind == "norm" and lay.out_slots is not None:
            for attr in ("weight", "bias", "running_mean", "running_var"):
                if getattr(m, attr, None) is not None:
                    out[pre + attr] = {0: lay.out_slots}
    return out
