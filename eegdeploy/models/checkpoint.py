"""Checkpoints: what a trained model is, in a file that loads without running code.

An eegdeploy checkpoint is a dict of plain data and tensors, readable with
``torch.load(path, weights_only=True)``::

    {"format": "eegdeploy-checkpoint", "version": 1, "arch": "torcheeg:CCNN",
     "arch_kwargs": {...}, "state_dict": {...}, "input": InputSpec.to_dict(),
     "class_names": [...], "profile": "ccnn-deap", "metadata": {...}}

Slim models are saved in the portable format (``eegdeploy.models.portable``),
which also needs no class. A plain state_dict loads when a profile or
``--arch`` says what it is. A whole pickled module runs code when loaded, so it
is refused unless the user passes ``--trust-pickle``.
"""

from __future__ import annotations

import warnings

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from eegdeploy.config import InputSpec, Profile, load_profile
from eegdeploy.errors import CheckpointError, ConfigError
from eegdeploy.io import atomic_path
from eegdeploy.limits import MAX_ITEMS, MAX_NESTING, check_zip, nesting_depth
from eegdeploy.models.budget import check_sample_shape, guard_layers
from eegdeploy.models.bundle import Bundle
from eegdeploy.models.zoo import build_model, check_input, make_plain
from eegdeploy.text import clean

TRUSTED_NAMESPACES = ("torcheeg", "eegdeploy")
_ARCH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*")

CHECKPOINT_FORMAT = "eegdeploy-checkpoint"
PORTABLE_FORMAT = "eegdeploy-portable"


def save_checkpoint(bundle: Bundle, path: Path | str) -> Path:
    """Write ``bundle`` as an eegdeploy checkpoint (atomically)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "arch": bundle.arch,
        "arch_kwargs": _plain(bundle.arch_kwargs),
        "state_dict": {k: v.detach().cpu().clone() for k, v in bundle.module.state_dict().items()},
        "input": bundle.input.to_dict(),
        "class_names": list(bundle.class_names),
        "profile": bundle.profile,
        "metadata": _plain(bundle.metadata),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _plain(obj: Any) -> Any:
    """JSON round trip: only plain data goes into a checkpoint's non-tensor fields."""
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


def _read(path: Path, trust_pickle: bool) -> Any:
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} not found", fix="check the path")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a file", fix="give the path of a .pt file")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} ({err.strerror or err})",
                              fix="check its permissions") from None
    if size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty", fix="re-save the model")
    check_zip(path, f"checkpoint {str(path)!r}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on files it then refuses anyway
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        is_pickle = "Unsupported global" in text or _looks_like_pickle(path)
        if not is_pickle:
            raise _unreadable(path) from None
        if not trust_pickle:
            raise CheckpointError(
                f"checkpoint {str(path)!r} contains pickled Python objects (for example a whole nn.Module), "
                "and loading it would run code from the file",
                fix="re-save it with torch.save(model.state_dict(), path), or pass --trust-pickle if you trust its source",
            ) from None
    except Exception:
        raise _unreadable(path) from None
    try:  # trusted by the user: full pickle
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"cannot unpickle checkpoint {str(path)!r} ({type(err).__name__}: {err})",
                              fix="make the model's code importable, or re-save a state_dict") from None


def _looks_like_pickle(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _unreadable(path: Path) -> CheckpointError:
    kind = "truncated or corrupt" if zipfile.is_zipfile(path) or path.suffix in (".pt", ".pth") else "not a PyTorch checkpoint"
    return CheckpointError(f"cannot read checkpoint {str(path)!r}: {kind}",
                           fix="give a file written by torch.save or 'eegdeploy train'")


def _unwrap_state_dict(obj: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    for key in ("state_dict", "model_state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    if not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):  # saved from DataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def file_arch(value: Any, user_arch: str | None, where: str) -> str:
    """The architecture a checkpoint names, if it may be imported: a ``torcheeg:``/``eegdeploy:`` name, or any
    name the user gave too (``--arch``, ``load_model(arch=...)``). Nothing is imported here."""
    if not isinstance(value, str) or not _ARCH.fullmatch(value):
        raise CheckpointError(f"{where} names an invalid architecture {clean(value, max_len=60)!r}",
                              fix="re-save it with 'eegdeploy train' (names look like torcheeg:CCNN)")
    if value.split(":", 1)[0] in TRUSTED_NAMESPACES or value == user_arch:
        return value
    raise CheckpointError(f"{where} names architecture {value!r}, outside the torcheeg: and eegdeploy: namespaces; "
                          "loading it would import and run that module",
                          fix=f"if you trust the file and that module, pass --arch {value} "
                              f"(Python: load_model(path, arch={value!r}))")


def file_profile(value: Any, where: str) -> str | None:
    """A profile name stored in a file: a plain name (a label; only a shipped profile of that name is ever
    loaded from it), never a path."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 64 and _PROFILE_NAME.fullmatch(value):
        return value
    raise CheckpointError(f"{where} names profile {clean(value, max_len=60)!r}, which is not a plain profile name",
                          fix="re-save it with 'eegdeploy train'; pass --profile to choose a profile yourself")


def _file_kwargs(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k.isidentifier() for k in value) \
            or nesting_depth(value) > 8:
        raise CheckpointError(f"{where} has malformed arch_kwargs", fix="re-save it with 'eegdeploy train'")
    stack = list(value.values())
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple, dict)):
            stack.extend(v.values() if isinstance(v, dict) else v)
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > 1 << 24:
            raise CheckpointError(f"{where}: arch_kwargs hold the integer {v:,}, beyond any EEG model's size "
                                  f"(limit {1 << 24:,})", fix="check the file's source")
        elif not (v is None or isinstance(v, (bool, int, float, str))):
            raise CheckpointError(f"{where} has arch_kwargs of type {type(v).__name__}",
                                  fix="re-save it with 'eegdeploy train'")
    return dict(value)


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], arch: str) -> None:
    """Load strictly; on mismatch name the first offending key and both shapes."""
    own = model.state_dict()
    for key, tensor in state_dict.items():
        if key in own and tuple(own[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"the checkpoint does not fit {arch}: {key!r} has shape {list(tensor.shape)} in the file "
                f"but {list(own[key].shape)} in the model",
                fix="pass the --profile or --arch-kwargs the model was trained with",
            )
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        first = f"missing key {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
        raise CheckpointError(
            f"the checkpoint does not fit {arch}: {first} ({len(missing)} missing, {len(unexpected)} unexpected)",
            fix="pass the --profile or --arch the model was trained with",
        )
    model.load_state_dict(dict(state_dict), strict=True)


def load_model(
    path: Path | str,
    *,
    profile: str | Profile | None = None,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
    class_names: tuple[str, ...] | None = None,
    trust_pickle: bool = False,
) -> Bundle:
    """Load any supported model file into a Bundle; checks that it accepts its input."""
    path = Path(path)
    prof = load_profile(profile) if isinstance(profile, str) else profile
    obj = _read(path, trust_pickle)

    where = f"checkpoint {str(path)!r}"
    if isinstance(obj, Mapping) and nesting_depth(obj) > MAX_NESTING:
        raise CheckpointError(f"{where} nests deeper than {MAX_NESTING} levels or holds more than {MAX_ITEMS:,} "
                              "values", fix="give a file written by eegdeploy")
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
        try:
            spec = InputSpec.from_dict(obj["input"])
            a = file_arch(obj["arch"], arch, where)
            kw = _file_kwargs(obj.get("arch_kwargs"), where)
            names = tuple(str(n) for n in (obj.get("class_names") or ()))
            sd = obj["state_dict"]
            prof_name = file_profile(obj.get("profile"), where)
            metadata = obj.get("metadata") or {}
            if not isinstance(metadata, dict) or not isinstance(sd, Mapping):
                raise TypeError("metadata and state_dict must be dicts")
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as err:
            raise CheckpointError(f"{where} is malformed ({type(err).__name__}: {clean(err, max_len=100)})",
                                  fix="re-save it with 'eegdeploy train'") from None
        check_sample_shape(spec.shape, where)
        # the file's own tensors bound the model: a checkpoint's state_dict holds every parameter
        held = sum(t.numel() for t in sd.values() if isinstance(t, torch.Tensor))
        module = build_model(a, kw, max_params=int(held * 1.25) + 100_000)
        load_state_dict_checked(module, sd, a)
        bundle = Bundle(module, a, kw, spec, names, prof_name, dict(metadata))
    elif isinstance(obj, Mapping) and obj.get("format") == PORTABLE_FORMAT:
        from eegdeploy.models.portable import from_portable

        module = from_portable(dict(obj))
        meta = dict(obj.get("meta") or {})
        try:
            spec = InputSpec.from_dict(meta["input"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError):
            if input_shape is None:
                raise CheckpointError(f"portable model {str(path)!r} has no input spec", fix="pass --input-shape") from None
            spec = InputSpec(shape=tuple(input_shape))
        names = tuple(str(n) for n in (meta.get("class_names") or ()))
        bundle = Bundle(module, "portable", {}, spec, names, file_profile(meta.get("profile"), where), meta)
    elif isinstance(obj, nn.Module):  # only reachable with trust_pickle
        make_plain(obj)
        spec = _spec_from(prof, input_shape, path)
        names = prof.class_names if prof else ()
        bundle = Bundle(obj.eval(), f"pickled:{type(obj).__name__}", {}, spec, names, prof.name if prof else None, {})
    elif isinstance(obj, Mapping) and (sd := _unwrap_state_dict(obj)) is not None:
        if arch is None and prof is None:
            raise CheckpointError(f"{str(path)!r} is a plain state_dict and does not say which model it is",
                                  fix="pass --profile NAME or --arch package.module:Class")
        a = arch or prof.arch  # type: ignore[union-attr]
        kw = dict(arch_kwargs) if arch_kwargs is not None else (dict(prof.arch_kwargs) if prof and not arch else {})
        parametrized = any(".parametrizations." in str(k) or str(k).startswith("parametrizations.") for k in sd)
        module = build_model(a, kw, plain=not parametrized)
        load_state_dict_checked(module, sd, a)
        if parametrized:  # saved with torch.nn.utils.parametrize: load first, then bake into plain weights
            make_plain(module)
        spec = _spec_from(prof, input_shape, path)
        names = prof.class_names if prof else ()
        bundle = Bundle(module, a, kw, spec, names, prof.name if prof else None, {})
    else:
        raise CheckpointError(f"{str(path)!r} holds no model ({type(obj).__name__})",
                              fix="give an eegdeploy checkpoint, a state_dict or (with --trust-pickle) a pickled module")

    if class_names:
        bundle.class_names = tuple(class_names)
    if input_shape is not None:
        bundle.input = InputSpec(**{**bundle.input.__dict__, "shape": tuple(input_shape)})
    check_sample_shape(tuple(bundle.input.shape), where)
    with guard_layers(bundle.module, 2, where):
        example = check_input(bundle.module, bundle.input.shape)
        with torch.no_grad():
            n_out = bundle.module.eval()(example).shape[1]
    if not bundle.class_names:
        bundle.class_names = tuple(f"class-{i}" for i in range(n_out))
    elif len(bundle.class_names) != n_out:
        raise CheckpointError(f"the model outputs {n_out} classes but {len(bundle.class_names)} class names are given",
                              fix="fix the profile's classes or the model's num_classes")
    return bundle


def _spec_from(prof: Profile | None, input_shape: tuple[int, ...] | None, path: Path) -> InputSpec:
    if input_shape is not None:
        base = prof.input if prof else InputSpec(shape=tuple(input_shape))
        return InputSpec(**{**base.__dict__, "shape": tuple(input_shape)})
    if prof is not None:
        return prof.input
    raise ConfigError(f"no input shape known for {str(path)!r}", fix="pass --input-shape C,H,W or --profile NAME")


def bundle_from_profile(profile: Profile, *, seed: int = 0) -> Bundle:
    """A freshly initialised model for a profile (for training a baseline)."""
    torch.manual_seed(seed)
    module = build_model(profile.arch, profile.arch_kwargs)
    check_input(module, profile.input.shape, profile.num_classes)
    return Bundle(module, profile.arch, dict(profile.arch_kwargs), profile.input, profile.class_names, profile.name, {})
