"""Injection fuzzing: every string field of a real slim.pt and a real checkpoint, replaced by payloads that would
create a sentinel file if any of them ran (as an expression, a statement, a default argument, a keyword name, an
attribute path, an import, or a unicode look-alike of one). Each mutated file must be refused with eegdeploy's own
error or load as harmless data, and the sentinel must never appear.

Derandomized in CI by the "ci" hypothesis profile (tests/conftest.py); HYPOTHESIS_PROFILE=explore draws fresh cases.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings, strategies as st

from eegdeploy.config import load_profile
from eegdeploy.errors import EegDeployError
from eegdeploy.models import bundle_from_profile, load_model, save_checkpoint
from eegdeploy.models.portable import to_portable

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EVIL_MODULE = "eegdeploy_fuzz_evil"
SENTINEL = "SENTINEL"


def payloads(sentinel: str) -> list[str]:
    touch = f"__import__('pathlib').Path({sentinel!r}).write_text('ran')"
    return [
        touch,                                                        # an expression
        f"x); {touch}; (y",                                           # breaks out of a call
        f"x\n{touch}\n",                                              # a statement on its own line
        f"a={touch}",                                                 # a default / keyword argument
        f"x=1): pass\n{touch}\ndef f(y",                              # a keyword name closing a signature
        f"__class__.__init__.__globals__['os'].system('touch {sentinel}')",  # a dunder attribute path
        "__class__", "__globals__", "__builtins__", "_modules", "__reduce__",
        f"ｅｘｅｃ({touch!r})",                                           # fullwidth look-alike (NFKC: exec)
        f"еval({touch!r})",                                            # Cyrillic е
        f"{EVIL_MODULE}:Net",                                         # an architecture that imports a module
        f"{EVIL_MODULE}.Net", "os:system", "builtins:exec", "pathlib:Path",
        "../../" + sentinel, "/tmp/" + sentinel,                      # paths
        "\x1b]0;title\x07\x1b[2J[bold red]markup[/]",                 # terminal escapes and Rich markup
        "getattr", "operator.getitem", "torch.load", "F.pad", "repeat", "expand",  # real whitelisted names elsewhere
        "", "x" * 300,
    ]


def string_sites(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every place a string sits in ``obj``: ("value", path) for string values, ("key", path) for string keys."""
    sites: list[tuple] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str):
                sites.append(("key", (*path, k)))
            sites += string_sites(v, (*path, k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            sites += string_sites(v, (*path, i))
    elif isinstance(obj, str):
        sites.append(("value", path))
    return sites


def mutate(obj: Any, site: tuple, payload: str) -> Any:
    kind, path = site

    def rec(o: Any, p: tuple) -> Any:
        if not p:
            return payload if kind == "value" else o
        head, rest = p[0], p[1:]
        if isinstance(o, dict):
            if kind == "key" and not rest:
                return {(payload if k == head else k): v for k, v in o.items()}
            return {k: (rec(v, rest) if k == head else v) for k, v in o.items()}
        if isinstance(o, list):
            return [rec(v, rest) if i == head else v for i, v in enumerate(o)]
        if isinstance(o, tuple):
            return tuple(rec(v, rest) if i == head else v for i, v in enumerate(o))
        return o

    return rec(obj, path)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm1d(3)
        self.scale = nn.Parameter(torch.ones(3))
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x))) * self.scale[None, :, None]
        h = nn.functional.pad(h, (1, 1)).mean(-1)
        return self.fc(h.reshape(h.size(0), -1))


@pytest.fixture(scope="module")
def slim_obj() -> dict:
    return to_portable(Tiny().eval(), meta={"input": {"shape": [2, 8]}, "class_names": ["a", "b"],
                                            "profile": "tiny"})


class TinyAten(nn.Module):
    """Stored as an ATen graph: conv, BatchNorm, LayerNorm, einsum (an equation string), tanh-GELU (a keyword
    string), attention, shape unpacking."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        b, c, t = x.shape
        h = self.norm(self.bn(self.conv(x)))
        a = torch.einsum("bct,bdt->bcd", h, h).softmax(-1)
        h = nn.functional.gelu(nn.functional.scaled_dot_product_attention(h, h, a @ h), approximate="tanh")
        return self.fc(h.reshape(b, 4, t).mean(-1))


@pytest.fixture(scope="module")
def aten_obj() -> dict:
    from eegdeploy.models.aten import to_aten

    return to_aten(TinyAten().eval(), torch.zeros(1, 2, 8), meta={"input": {"shape": [2, 8]}, "class_names": ["a", "b"],
                                                                  "profile": "tiny"})


@pytest.fixture(scope="module")
def ckpt_obj(tmp_path_factory) -> dict:
    p = save_checkpoint(bundle_from_profile(load_profile("eegnet-deap"), seed=0),
                        tmp_path_factory.mktemp("ck") / "m.pt")
    return torch.load(p, weights_only=True)


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    (tmp_path / f"{EVIL_MODULE}.py").write_text(
        f"import pathlib\npathlib.Path({str(tmp_path / SENTINEL)!r}).write_text('imported')\n"
        "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # relative payload paths land here too
    yield tmp_path
    sys.modules.pop(EVIL_MODULE, None)


def _load_harmlessly(fn) -> None:
    try:
        fn()
    except EegDeployError:
        return
    except Exception as err:  # pragma: no cover - a crash is a finding too
        pytest.fail(f"{type(err).__name__}: {err}")


def _check(tmp: Path, obj: dict, site: tuple, payload: str, run) -> None:
    p = tmp / "mutated.pt"
    torch.save(mutate(obj, site, payload), p)
    _load_harmlessly(lambda: run(p))
    assert not (tmp / SENTINEL).exists(), f"payload ran: {site} = {payload!r}"
    assert not (tmp.parent / SENTINEL).exists()


def _run_slim(p: Path) -> None:
    bundle = load_model(p)  # rebuilds the model and runs it once on its declared input
    with torch.no_grad():
        bundle.module(torch.zeros(2, 2, 8))


@SETTINGS
@given(data=st.data())
def test_every_string_of_a_slim_pt_is_inert(evil_module, slim_obj, data):
    sites = string_sites({k: v for k, v in slim_obj.items() if k not in ("state_dict", "tensors")})
    site = data.draw(st.sampled_from(sites), label="site")
    payload = data.draw(st.sampled_from(payloads(str(evil_module / SENTINEL))), label="payload")
    _check(evil_module, slim_obj, site, payload, _run_slim)


@SETTINGS
@given(data=st.data())
def test_every_string_of_an_aten_slim_pt_is_inert(evil_module, aten_obj, data):
    sites = string_sites({k: v for k, v in aten_obj.items() if k not in ("params", "buffers", "constants")})
    assert {"aten.einsum.default", "bct,bdt->bcd", "tanh", "float32"} <= {
        _at(aten_obj, s[1]) for s in sites if s[0] == "value"}
    site = data.draw(st.sampled_from(sites), label="site")
    payload = data.draw(st.sampled_from(payloads(str(evil_module / SENTINEL))), label="payload")
    _check(evil_module, aten_obj, site, payload, _run_slim)


def _at(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


@SETTINGS
@given(data=st.data())
def test_every_string_of_a_checkpoint_is_inert(evil_module, ckpt_obj, data):
    sites = string_sites({k: v for k, v in ckpt_obj.items() if k != "state_dict"})
    site = data.draw(st.sampled_from(sites), label="site")
    payload = data.draw(st.sampled_from(payloads(str(evil_module / SENTINEL))), label="payload")
    _check(evil_module, ckpt_obj, site, payload, lambda p: load_model(p))


@pytest.mark.slow
def test_every_node_target_and_name_with_every_code_payload(evil_module, slim_obj):
    """Exhaustive over the strings torch.fx once turned into Python source: node targets and names, with each
    payload that is code (the first nine)."""
    sites = [s for s in string_sites({"graph": slim_obj["graph"]}) if s[1][-1] in ("target", "name")]
    assert len(sites) >= 20
    for site in sites:
        for payload in payloads(str(evil_module / SENTINEL))[:9]:
            _check(evil_module, slim_obj, site, payload, _run_slim)


@pytest.mark.slow
def test_every_aten_step_target_and_string_argument_with_every_code_payload(evil_module, aten_obj):
    """Exhaustive over the ATen graph's op names and string arguments, with each payload that is code."""
    sites = [s for s in string_sites({"graph": aten_obj["graph"]}) if s[0] == "value"
             and (s[1][-1] == "target" or "args" in s[1] or "kwargs" in s[1])]
    assert len(sites) >= 20
    for site in sites:
        for payload in payloads(str(evil_module / SENTINEL))[:9]:
            _check(evil_module, aten_obj, site, payload, _run_slim)


def test_arch_and_profile_fields_with_every_payload(evil_module, ckpt_obj):
    for field in ("arch", "profile"):
        for payload in payloads(str(evil_module / SENTINEL)):
            _check(evil_module, ckpt_obj, ("value", (field,)), payload, lambda p: load_model(p))
