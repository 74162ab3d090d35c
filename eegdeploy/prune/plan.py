"""PrunePlan: what a pruning method decided, independent of how it is cut.

Structured plans say, for each prunable channel group (named by the module
path of the layer whose output channels define it), which channel indices it
keeps. Unstructured plans carry boolean weight masks keyed by parameter name.
Plans are JSON-able (masks go to an .npz beside the JSON), so a searched plan
can be applied later with ``compress --plan plan.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

PLAN_FORMAT = "eegdeploy-plan"


@dataclass
class PrunePlan:
    method: str
    ratio: float
    kind: Literal["structured", "unstructured"] = "structured"
    keep: dict[str, list[int]] = field(default_factory=dict)  # group -> sorted kept channel indices
    sizes: dict[str, int] = field(default_factory=dict)  # group -> original channel count
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # param name -> bool mask (unstructured)
    notes: list[str] = field(default_factory=list)  # layers kept whole and why, warnings
    input_shape: tuple[int, ...] | None = None  # the example the plan was made on (without batch)

    def removed(self) -> dict[str, list[int]]:
        return {g: sorted(set(range(self.sizes[g])) - set(k)) for g, k in self.keep.items()}

    def channels_removed_fraction(self) -> float:
        total = sum(self.sizes.values())
        kept = sum(len(k) for k in self.keep.values())
        return 0.0 if total == 0 else 1.0 - kept / total

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": 1,
            "method": self.method,
            "ratio": self.ratio,
            "kind": self.kind,
            "keep": {k: list(map(int, v)) for k, v in self.keep.items()},
            "sizes": {k: int(v) for k, v in self.sizes.items()},
            "notes": list(self.notes),
            "input_shape": list(self.input_shape) if self.input_shape else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PrunePlan":
        from eegdeploy.errors import ConfigError

        if not isinstance(d, dict) or d.get("format") != PLAN_FORMAT:
            raise ConfigError("not an eegdeploy plan file (missing format 'eegdeploy-plan')",
                              fix="give a plan.json written by 'eegdeploy search' or 'compress'")
        try:
            return cls(
                method=str(d["method"]),
                ratio=float(d["ratio"]),
                kind=d.get("kind", "structured"),
                keep={str(k): sorted(int(i) for i in v) for k, v in d["keep"].items()},
                sizes={str(k): int(v) for k, v in d["sizes"].items()},
                notes=[str(n) for n in d.get("notes", [])],
                input_shape=tuple(int(v) for v in d["input_shape"]) if d.get("input_shape") else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"malformed plan file: {err}", fix="regenerate it with 'eegdeploy search'") from None
