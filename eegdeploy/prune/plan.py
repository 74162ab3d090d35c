"""PrunePlan: what a pruning method decided, independent of how it is cut.

Structured plans say, for each prunable channel group (named by the module
path of the layer whose output channels define it), which channel indices it
keeps. Unstructured plans carry boolean weight masks keyed by parameter name.
``save`` writes the JSON and, for masks, an .npz beside it (``plan.json`` -> ``plan.masks.npz``); ``load`` reads
both, so a searched or saved plan can be applied later with ``compress --plan plan.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
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

    def save(self, path: str | Path) -> list[Path]:
        """Write ``path`` (JSON) and, when the plan has masks, ``<stem>.masks.npz`` beside it; returns both paths."""
        from eegdeploy.io import atomic_path, write_json

        path = Path(path)
        d = self.to_dict()
        written = []
        if self.masks:
            npz = masks_path(path)
            with atomic_path(npz, suffix=".npz") as tmp:
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, **{k: v.cpu().numpy().astype(bool) for k, v in self.masks.items()})
            d["masks_file"] = npz.name
            written.append(npz)
        write_json(path, d)
        return [path, *written]

    @classmethod
    def load(cls, path: str | Path) -> "PrunePlan":
        """Read a plan written by ``save`` (or by ``eegdeploy search``), masks included."""
        from eegdeploy.errors import ConfigError

        path = Path(path)
        try:
            from eegdeploy.limits import parse_json

            d = parse_json(path.read_text(encoding="utf-8"), f"plan file {str(path)!r}",
                           lambda m, f: ConfigError(m, fix=f))
        except FileNotFoundError:
            raise ConfigError(f"plan file {str(path)!r} not found", fix="check the --plan path") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read plan file {str(path)!r} ({type(err).__name__})",
                              fix="give a plan.json written by 'eegdeploy search' or PrunePlan.save") from None
        plan = cls.from_dict(d)
        if plan.kind == "unstructured":
            name = d.get("masks_file") or masks_path(path).name
            # a name from the file stays one plain component beside the plan: it never picks another folder
            if not isinstance(name, str) or name in (".", "..") or Path(name).name != name or "\\" in name:
                raise ConfigError(f"plan file {str(path)!r} names masks file {str(name)[:60]!r}, which is not a "
                                  "file name beside the plan", fix="keep the masks .npz next to plan.json")
            npz = path.parent / name
            try:
                from eegdeploy.limits import check_npz

                check_npz(npz, f"masks file {npz.name!r}")
                with np.load(npz, allow_pickle=False) as f:
                    plan.masks = {k: torch.from_numpy(f[k].astype(bool)) for k in f.files}
            except (OSError, ValueError) as err:
                raise ConfigError(f"the unstructured plan {str(path)!r} needs its masks file {npz.name!r} "
                                  f"({type(err).__name__})", fix="keep the .masks.npz beside the plan") from None
        return plan

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PrunePlan":
        from eegdeploy.errors import ConfigError

        if not isinstance(d, dict) or d.get("format") != PLAN_FORMAT:
            raise ConfigError("not an eegdeploy plan file (missing format 'eegdeploy-plan')",
                              fix="give a plan.json written by 'eegdeploy search' or 'compress'")
        import re

        if not (isinstance(d.get("method"), str) and re.fullmatch(r"[a-z0-9_+-]{1,40}", d["method"])):
            raise ConfigError("plan file: 'method' must be a short method name", fix="regenerate it with 'eegdeploy search'")
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


def masks_path(plan_json: str | Path) -> Path:
    """Where ``PrunePlan.save`` puts the masks of ``plan_json``: ``plan.json`` -> ``plan.masks.npz``."""
    p = Path(plan_json)
    return p.with_name(p.with_suffix("").name + ".masks.npz")
