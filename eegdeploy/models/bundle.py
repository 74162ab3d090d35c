"""The Bundle: a model with what it takes to use it (input spec, classes, provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from eegdeploy.config import InputSpec


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
        return self.profile or self.arch.split(":")[-1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
