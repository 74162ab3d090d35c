"""Frozen configuration objects and profile (TOML) loading.

A profile names a model, its input, the synthetic data that stands in for a
real dataset, and the training recipe. Shipped profiles live in ``profiles/``;
any ``*.toml`` path works too. Every stage has its own small frozen config;
CLI flags mirror field names (``--ratio`` <-> ``ratio``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eegdeploy.errors import ConfigError, invalid_value, unknown_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def parse_toml(text: str, where: str = "TOML text") -> dict[str, Any]:
    """TOML text to a dict with the standard library's reader (tomli on Python 3.10): every TOML file eegdeploy
    reads (profiles, device profiles) goes through here."""
    from eegdeploy.limits import MAX_NESTING, text_depth

    # tomllib recurses once per nesting level: a deep file would end in RecursionError, so refuse it first
    if text_depth(text) > MAX_NESTING:
        raise ConfigError(f"{where} nests deeper than {MAX_NESTING} levels", fix="flatten the TOML")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{where} nests too deeply", fix="flatten the TOML") from None


RECOVERIES = ("finetune", "scratch", "distill", "none")  # how a pruned model regains accuracy (compress --recover)


@dataclass(frozen=True)
class InputSpec:
    """What one sample looks like, without the batch axis.

    ``layout`` names each axis (``("band", "row", "col")`` for a 9x9 electrode
    grid, ``("plane", "electrode", "time")`` for raw signals). ``electrodes``
    are the 10-20 names present in the input; ``grid`` names the electrode
    layout used to place them on a grid (``"deap"``, ``"seed"``) or is None.
    """

    shape: tuple[int, ...]
    layout: tuple[str, ...] = ()
    sampling_rate: float | None = None
    electrodes: tuple[str, ...] = ()
    grid: str | None = None
    preprocessing: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "layout": list(self.layout),
            "sampling_rate": self.sampling_rate,
            "electrodes": list(self.electrodes),
            "grid": self.grid,
            "preprocessing": self.preprocessing,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "InputSpec":
        return cls(
            shape=tuple(int(v) for v in d["shape"]),
            layout=tuple(str(v) for v in d.get("layout", ())),
            sampling_rate=None if d.get("sampling_rate") is None else float(d["sampling_rate"]),
            electrodes=tuple(str(v) for v in d.get("electrodes", ())),
            grid=d.get("grid"),
            preprocessing=str(d.get("preprocessing", "")),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Recipe for training a baseline and for recovery after pruning."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | sgd | adamw
    momentum: float = 0.9
    weight_decay: float = 0.0
    step_size: int = 0  # step decay every N epochs; 0 disables
    gamma: float = 0.5
    patience: int = 0  # early stop after N epochs without val improvement; 0 disables

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise invalid_value("epochs", self.epochs, "an integer >= 0")
        if self.batch_size < 1:
            raise invalid_value("batch_size", self.batch_size, "an integer >= 1")
        if not self.lr > 0:
            raise invalid_value("lr", self.lr, "a number > 0")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise unknown_name("optimizer", self.optimizer, ("adam", "adamw", "sgd"))


@dataclass(frozen=True)
class SyntheticConfig:
    """Synthetic EEG stand-in for a profile: see ``eegdeploy.data.synthetic``."""

    n_samples: int = 1200
    n_subjects: int = 8
    signal: float = 1.0  # class signal strength relative to noise
    noise: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    arch: str
    arch_kwargs: Mapping[str, Any]
    input: InputSpec
    class_names: tuple[str, ...]
    task: str = "valence"
    synthetic: SyntheticConfig = SyntheticConfig()
    train: TrainConfig = TrainConfig()
    keep: tuple[str, ...] = ()  # module names / regexes never pruned (beyond the classifier)
    path: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def profiles_dir() -> Path:
    """Where shipped profiles live: $EEGDEPLOY_PROFILES, else ``profiles/`` beside the package."""
    env = os.environ.get("EEGDEPLOY_PROFILES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "profiles", here.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    return here.parent / "profiles"


def list_profiles() -> list[str]:
    d = profiles_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read profile {str(path)!r} ({err.strerror or err})",
                          fix="check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"profile {str(path)!r} is not UTF-8 text", fix="give a TOML file") from None
    try:
        return parse_toml(text, f"profile {str(path)!r}")
    except TOMLDecodeError as err:
        raise ConfigError(f"malformed profile {str(path)!r}: {err}", fix="fix the TOML syntax at that line") from None


def _section(d: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = d.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"profile {str(path)!r}: key {key!r} must be a table, not {type(value).__name__}")
    return value


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(values) - names)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r}, expected one of {', '.join(sorted(names))}")
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def load_profile(name_or_path: str) -> Profile:
    """Load a shipped profile by name, or any TOML file by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or os.sep in name_or_path:
        path = p
        if not path.is_file():
            raise ConfigError(f"profile file {name_or_path!r} not found", fix="check the path")
    else:
        path = profiles_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise unknown_name("profile", name_or_path, list_profiles())
    raw = _read_toml(path)
    where = f"profile {str(path)!r}"
    try:
        model = _section(raw, "model", path)
        inp = _section(raw, "input", path)
        if "arch" not in model:
            raise ConfigError(f"{where}: missing key 'model.arch'", fix="name the architecture, e.g. 'torcheeg:CCNN'")
        if "shape" not in inp:
            raise ConfigError(f"{where}: missing key 'input.shape'", fix="give the sample shape without batch, e.g. [4, 9, 9]")
        input_spec = InputSpec.from_dict(inp)
        classes = tuple(str(c) for c in raw.get("classes", ("low", "high")))
        synth = dict(_section(raw, "synthetic", path))
        synthetic = SyntheticConfig(
            n_samples=int(synth.pop("n_samples", 1200)),
            n_subjects=int(synth.pop("n_subjects", 8)),
            signal=float(synth.pop("signal", 1.0)),
            noise=float(synth.pop("noise", 1.0)),
            options=synth,
        )
        train = _build(TrainConfig, _section(raw, "train", path), f"{where} [train]")
        return Profile(
            name=str(raw.get("name", path.stem)),
            description=str(raw.get("description", "")),
            arch=str(model["arch"]),
            arch_kwargs=dict(model.get("kwargs", {})),
            input=input_spec,
            class_names=classes,
            task=str(raw.get("task", "valence")),
            synthetic=synthetic,
            train=train,
            keep=tuple(str(k) for k in raw.get("keep", ())),
            path=str(path),
        )
    except (KeyError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


def compile_patterns(patterns: "tuple[str, ...] | list[str]") -> list[re.Pattern[str]]:
    """Module-name patterns: ``re:<regex>`` or a plain name (matched exactly or as a prefix ``name.``)."""
    out = []
    for pat in patterns:
        if pat.startswith("re:"):
            try:
                out.append(re.compile(pat[3:]))
            except re.error as err:
                raise invalid_value("keep", pat, f"a valid regular expression ({err})") from None
        else:
            out.append(re.compile(re.escape(pat) + r"(\..*)?"))
    return out


def matches_any(name: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(name) for p in patterns)
