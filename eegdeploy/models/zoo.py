"""Building models by architecture name.

Architecture names:
- ``torcheeg:<Class>``: a CNN from ``torcheeg.models.cnn`` (CCNN, FBCCNN, TSCeption, EEGNet, ...);
- ``eegdeploy:<Class>``: a seed architecture of ours (``eegdeploy.models.seed``);
- ``package.module:Class``: any importable ``nn.Module`` (the user's own).

torcheeg's ``torcheeg/models/__init__.py`` imports every model family, and its
graph models import ``torch_scatter`` at import time, which has no wheel for
this torch. CNNs need none of that, so when ``torch_scatter`` is missing we
register ``torcheeg.models`` as a bare package (its ``__path__`` only, without
running its ``__init__``) and import ``torcheeg.models.cnn`` directly. With
``torch_scatter`` installed, the normal import path is used unchanged.

Models that rewrite their own weights in ``forward`` (max-norm: EEGNet,
FBCNet, ...) are made plain: the constraint is applied once and the layer is
swapped for a plain ``Conv2d``/``Linear`` with identical output. Training keeps
the constraint through ``maxnorm_constraints`` (applied after each step).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, EegDeployError, InputError, did_you_mean, unknown_name


TORCHEEG_FAMILIES = ("cnn", "transformer", "rnn")  # gnn needs torch_scatter


def _register_bare_torcheeg_models() -> None:
    if importlib.util.find_spec("torcheeg") is None:
        raise ConfigError("torcheeg is not installed", fix="pip install 'eegdeploy[full]'")
    if importlib.util.find_spec("torch_scatter") is None and "torcheeg.models" not in sys.modules:
        import torcheeg

        bare = types.ModuleType("torcheeg.models")
        bare.__path__ = [str(Path(torcheeg.__file__).parent / "models")]
        bare.__package__ = "torcheeg.models"
        sys.modules["torcheeg.models"] = bare


def import_torcheeg(family: str = "cnn") -> types.ModuleType:
    """Import ``torcheeg.models.<family>`` whether or not ``torch_scatter`` is installed."""
    name = f"torcheeg.models.{family}"
    if name in sys.modules:
        return sys.modules[name]
    _register_bare_torcheeg_models()
    return importlib.import_module(name)


def import_torcheeg_cnn() -> types.ModuleType:
    """Import ``torcheeg.models.cnn`` whether or not ``torch_scatter`` is installed."""
    return import_torcheeg("cnn")


def torcheeg_classes(families: tuple[str, ...] = TORCHEEG_FAMILIES) -> dict[str, type[nn.Module]]:
    """Model classes exported by torcheeg's families, by name (first family wins on a clash)."""
    out: dict[str, type[nn.Module]] = {}
    for fam in families:
        mod = import_torcheeg(fam)
        for n in getattr(mod, "__all__", None) or dir(mod):
            v = getattr(mod, n, None)
            if isinstance(v, type) and issubclass(v, nn.Module) and n not in out:
                out[n] = v
    return out


def _seed_module() -> types.ModuleType:
    return importlib.import_module("eegdeploy.models.seed")


def resolve_arch(arch: str) -> type[nn.Module]:
    """Turn an architecture name into a class; unknown names list what exists."""
    if ":" not in arch:
        raise ConfigError(f"invalid architecture {arch!r}",
                          fix="use 'torcheeg:CCNN', 'eegdeploy:EEGNetBCI' or 'package.module:Class'")
    prefix, name = arch.split(":", 1)
    if prefix == "torcheeg":
        classes = torcheeg_classes()
        cls = classes.get(name)
        if cls is None:
            raise unknown_name("torcheeg model", name, sorted(classes))
        return cls
    if prefix == "eegdeploy":
        seed = _seed_module()
        valid = sorted(getattr(seed, "ARCHITECTURES", {}))
        cls = getattr(seed, "ARCHITECTURES", {}).get(name)
        if cls is None:
            raise unknown_name("eegdeploy architecture", name, valid)
        return cls
    if prefix.startswith("torcheeg.models"):
        _register_bare_torcheeg_models()  # torcheeg/models/__init__.py would import torch_scatter
    try:
        module = importlib.import_module(prefix)
    except ImportError as err:
        raise ConfigError(f"cannot import module {prefix!r} for --arch {arch!r} ({err})",
                          fix="check the spelling and that the module is on PYTHONPATH") from None
    cls = getattr(module, name, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items()
                         if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        guess = did_you_mean(name, classes)
        listed = ", ".join(classes) if classes else "none"
        raise ConfigError(f"module {prefix!r} has no class {name!r} (its nn.Module classes: {listed})",
                          fix=f"did you mean --arch {prefix}:{guess}?" if guess else "check the class name")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"{arch!r} is not an nn.Module class", fix="give package.module:Class of an nn.Module")
    return cls


def _plain_kwargs(kwargs: Mapping[str, Any], cls: type | None = None) -> dict[str, Any]:
    """JSON and TOML have no tuples; torcheeg expects tuples for sizes (``grid_size=(9, 9)``). A list becomes a
    tuple unless the class's signature says list (a list default or annotation); nested lists too."""
    wants_list: set[str] = set()
    if cls is not None:
        try:
            params = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            params = {}
        for k, p in params.items():
            ann = str(p.annotation).lower()
            if isinstance(p.default, list) or ann.startswith(("list", "typing.list", "<class 'list'>")):
                wants_list.add(k)

    def conv(v: Any, as_list: bool) -> Any:
        if isinstance(v, (list, tuple)):
            items = [conv(i, False) for i in v]
            return items if as_list else tuple(items)
        return v

    return {k: conv(v, k in wants_list) for k, v in kwargs.items()}


def build_model(arch: str, kwargs: Mapping[str, Any] | None = None, *, plain: bool = True,
                max_params: int | None = None) -> nn.Module:
    """Instantiate ``arch`` with ``kwargs``, in eval mode, with max-norm and parametrized layers made plain
    (``plain=False`` leaves them, to load a state_dict saved with parametrizations first: then ``make_plain``).

    Construction stops once the registered parameters and buffers pass ``max_params`` (default and cap:
    ``eegdeploy.limits.MAX_PARAMS``), before the oversized layer is initialised."""
    from eegdeploy.limits import MAX_PARAMS, BudgetError
    from eegdeploy.models.budget import param_budget

    cls = resolve_arch(arch)
    kw = _plain_kwargs(kwargs or {}, cls)
    try:
        with param_budget(f"architecture {arch}", min(MAX_PARAMS, max_params or MAX_PARAMS)):
            model = cls(**kw)
    except BudgetError:
        raise
    except TypeError as err:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ConfigError(f"cannot build {arch} with {kw}: {err}",
                          fix=f"valid keyword arguments are: {', '.join(params)}") from None
    except Exception as err:  # torcheeg bugs surface here (e.g. ATCNet's eps=False)
        raise ConfigError(f"{arch} failed to build with {kw}: {type(err).__name__}: {err}",
                          fix="check the architecture's arguments") from None
    if plain:
        make_plain(model)
    return model.eval()


def make_plain(model: nn.Module) -> nn.Module:
    """Bake parametrizations and weight norm, make max-norm layers plain, swap in traceable forwards."""
    bake_parametrizations(model)
    sanitize_maxnorm(model)
    make_traceable(model)
    return model


def bake_parametrizations(model: nn.Module) -> list[str]:
    """Replace parametrized weights (``torch.nn.utils.parametrize``: max-norm, weight norm, spectral norm) and
    hook-based weight/spectral norm by plain tensors holding the value forward would compute. A max-norm
    parametrization (one with a ``max_norm`` attribute, as in braindecode) is remembered on the layer so
    recovery re-applies it after each step (``apply_maxnorm``)."""
    from torch.nn.utils import parametrize

    baked = []
    for name, m in list(model.named_modules()):
        if parametrize.is_parametrized(m):
            for tensor_name in list(m.parametrizations.keys()):
                limits = [getattr(p, "max_norm", None) for p in m.parametrizations[tensor_name]]
                limit = next((float(v) for v in limits if isinstance(v, (int, float))), None)
                parametrize.remove_parametrizations(m, tensor_name, leave_parametrized=True)
                if limit is not None and tensor_name == "weight":
                    m._eegdeploy_max_norm = limit
                baked.append(f"{name}.{tensor_name}".lstrip("."))
        for hook in list(getattr(m, "_forward_pre_hooks", {}).values()):
            kind = type(hook).__name__
            if kind in ("WeightNorm", "SpectralNorm"):
                with torch.no_grad():
                    weight = getattr(m, hook.name).detach().clone()
                if kind == "WeightNorm":
                    torch.nn.utils.remove_weight_norm(m, hook.name)
                else:
                    torch.nn.utils.remove_spectral_norm(m, hook.name)
                with torch.no_grad():
                    getattr(m, hook.name).copy_(weight)
                baked.append(f"{name}.{hook.name}".lstrip("."))
    return baked


def _fbcnet_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torcheeg FBCNet's forward with its reshape written without unpacking ``x.shape`` (which torch.fx cannot
    trace): [n, bands·S, 1, T] → [n, bands·S, stride_factor, T / stride_factor]. Same operations, same outputs."""
    x = self.scb(x)
    x = x.reshape(x.size(0), x.size(1), self.stride_factor, -1)
    x = self.temporal_layer(x)
    x = torch.flatten(x, start_dim=1)
    return self.last_layer(x)


def _mtcnn_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torcheeg MTCNN's forward for any batch size, valence head only.

    torcheeg applies ``BatchNorm1d(1)`` to the transposed [512, n] features, which only runs at batch 1 (the one
    channel is the batch axis). Here the same scalar normalisation is applied to every feature value
    (reshape to [n·512, 1]): identical outputs at batch 1 and in eval mode, and it runs at any batch. MTCNN is
    multi-task (valence and arousal heads); eegdeploy's single-output pipeline serves ``lin_v``."""
    x = self.block4(self.block3(self.block2(self.block1(x))))
    x = self.lin1(x.flatten(start_dim=1))
    n = x.size(0)
    x = self.lin1_bn[0](x.reshape(-1, 1)).reshape(n, -1)
    x = self.lin1_bn[1](x)
    return self.lin_v(x)


_TRACEABLE_FORWARDS = {"FBCNet": _fbcnet_forward, "MTCNN": _mtcnn_forward}


def make_traceable(model: nn.Module) -> bool:
    """Swap in an fx-traceable, numerically identical forward for torcheeg models whose own forward cannot be
    traced (by giving the instance a subclass, so ``type(model).forward`` is the traceable one)."""
    fwd = _TRACEABLE_FORWARDS.get(type(model).__name__)
    if fwd is None or not type(model).__module__.startswith("torcheeg."):
        return False
    model.__class__ = type(type(model).__name__, (type(model),), {"forward": fwd, "__module__": __name__})
    return True


def maxnorm_constraints(model: nn.Module) -> dict[str, float]:
    """Module names → max-norm recorded by ``sanitize_maxnorm`` (for training)."""
    return {name: float(m._eegdeploy_max_norm) for name, m in model.named_modules()
            if hasattr(m, "_eegdeploy_max_norm")}


@torch.no_grad()
def apply_maxnorm(model: nn.Module) -> None:
    """Re-apply the max-norm constraints after an optimiser step (what the original forward did)."""
    for m in model.modules():
        limit = getattr(m, "_eegdeploy_max_norm", None)
        if limit is not None and getattr(m, "weight", None) is not None:
            m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=limit))


@torch.no_grad()
def sanitize_maxnorm(model: nn.Module) -> list[str]:
    """Replace layers that renormalise their weights inside ``forward`` by plain layers.

    The constraint is applied once (what the first forward would do), so the
    outputs are identical; the limit is remembered on the new layer.
    """
    replaced = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            base = _plain_base(child)
            if base is None:
                continue
            limit = getattr(child, "max_norm", None)
            active = getattr(child, "doWeightNorm", True)
            new = _clone_as(child, base)
            if active and limit is not None:
                new.weight.copy_(torch.renorm(new.weight, p=2, dim=0, maxnorm=float(limit)))
                new._eegdeploy_max_norm = float(limit)
            new.train(child.training)
            setattr(parent, child_name, new)
            replaced.append(f"{parent_name}.{child_name}".lstrip("."))
    return replaced


def _plain_base(m: nn.Module) -> type[nn.Module] | None:
    if not hasattr(m, "max_norm"):
        return None
    for base in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear):
        if isinstance(m, base) and type(m) is not base:
            return base
    return None


def _clone_as(m: nn.Module, base: type[nn.Module]) -> nn.Module:
    if base is nn.Linear:
        new = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    else:
        new = base(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                   dilation=m.dilation, groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode)
    new.load_state_dict(m.state_dict())
    return new.to(next(m.parameters()).dtype)


def first_layer_rank(model: nn.Module) -> tuple[str, int, str] | None:
    """(name, dims per sample without batch, layer type) of the first conv or linear layer, for hints only."""
    dims = {nn.Conv1d: 2, nn.Conv2d: 3, nn.Conv3d: 4, nn.Linear: 1}
    for name, m in model.named_modules():
        for base, d in dims.items():
            if isinstance(m, base):
                return name, d, base.__name__
    return None


def check_input(model: nn.Module, shape: tuple[int, ...], num_classes: int | None = None) -> torch.Tensor:
    """Run one batch of zeros through ``model``; a clear error if it rejects ``shape``."""
    example = torch.zeros((2, *shape))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(example)
    except EegDeployError:
        raise
    except Exception as err:
        rank = first_layer_rank(model)
        if rank is not None and rank[1] != len(shape):
            name, want, kind = rank[0], rank[1], rank[2]
            axes = {1: "features", 2: "channels, time", 3: "channels, height, width",
                    4: "channels, depth, height, width"}.get(want, f"{want} numbers")
            example = ",".join(["1"] * (want - len(shape)) + [str(v) for v in shape]) if want > len(shape) else None
            raise InputError(f"input shape {list(shape)} has {len(shape)} number(s), but the model's first layer "
                             f"{name!r} is a {kind}, which takes {want} ({axes})",
                             fix=f"pass --input-shape {example}" if example else
                             f"pass --input-shape with {want} numbers") from None
        msg = str(err).splitlines()[0][:200]
        raise InputError(f"the model rejects input shape {list(shape)} ({type(err).__name__}: {msg})",
                         fix="pass the shape the model was built for with --input-shape or the right --profile") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise InputError(f"the model's output is {tuple(getattr(out, 'shape', ()))}, expected (batch, classes) logits",
                         fix="wrap the model so forward returns one logits tensor")
    if num_classes is not None and out.shape[1] != num_classes:
        raise InputError(f"the model outputs {out.shape[1]} classes but {num_classes} class names are given",
                         fix="fix the profile's classes or the model's num_classes")
    return example[:1]
