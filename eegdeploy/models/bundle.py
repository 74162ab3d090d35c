"""The Bundle: a model with what it takes to use it (input spec, classes, provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from eegdeploy.config import InputSpec, Profile, load_profile


@dataclass
class Bundle:
    module: nn.Module
    arch: str  # "torcheeg:CCNN" | "eegdeploy:EEGNetBCI" | "package.module:Class" | "portable"
    arch_kwargs: dict[str, Any]
    input: InputSpec
    class_names: tuple[str, ...]
    profile: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A short name, safe as one path component (default output folders are made from it)."""
        from eegdeploy.text import component

        return component(self.profile or self.arch.split(":")[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def check_prunable(bundle: Bundle, where: str | None = None) -> None:
    """Refuse, with one line, a model that cannot be pruned again (an ATen-graph slim.pt: its steps store its
    layer widths). Commands that prune call it before any work; bench, export and inspect do not."""
    from eegdeploy.errors import UnsupportedLayerError

    reason = getattr(bundle.module, "not_prunable", None)
    if reason:
        raise UnsupportedLayerError(f"cannot prune {where or bundle.name}: {reason}",
                                    fix="prune the checkpoint it was slimmed from; this file benchmarks (eegdeploy "
                                        "bench) and exports (eegdeploy export) as it is")


def resolve_profile(bundle: Bundle, profile: str | None = None) -> Profile:
    """The profile behind a bundle: ``profile`` (a name or .toml path), else the checkpoint's own, else one made
    from the bundle itself (its input spec and classes, the default training recipe).

    A named profile whose input shape differs from the bundle's does not describe this model and is not used.
    """
    from eegdeploy.config import list_profiles

    # a profile named inside a file is only a label: it selects a shipped profile or nothing (never a path)
    name = profile or (bundle.profile if bundle.profile in list_profiles() else None)
    if name:
        prof = load_profile(name)
        if tuple(prof.input.shape) == tuple(bundle.input.shape):
            return prof
    return Profile(name=bundle.name, description="", arch=bundle.arch, arch_kwargs=bundle.arch_kwargs,
                   input=bundle.input, class_names=tuple(bundle.class_names))
