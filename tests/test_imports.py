"""The layering rules of DESIGN.md, checked on the source: nothing below eegdeploy/cli imports the CLI, and no
module imports another package's private (``_name``) modules or names."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "eegdeploy"
# The one version string lives in eegdeploy/_version.py (STYLE.md: "one version string"); every package reads it.
ALLOWED = {("eegdeploy._version", "__version__")}
ABOVE_CLI = ("eegdeploy.cli", "eegdeploy.__main__")  # `python -m eegdeploy` is the CLI's entry point


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    """The first-level package a module belongs to: eegdeploy.prune.trace -> eegdeploy.prune;
    top-level modules (eegdeploy.pipeline, eegdeploy.io) are each their own."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    return _imports_in(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


def _imports_in(source: str, here: str, is_pkg: bool) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) for every import in ``source`` (module ``here``), relative imports resolved."""
    tree = ast.parse(source)
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = here.split(".") if is_pkg else here.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join([*base, mod] if mod else base)
            out += [(mod, a.name, node.lineno) for a in node.names]
    return out


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


FILES = sorted(PKG.rglob("*.py"))


def test_the_walker_sees_the_whole_package():
    names = {_module_name(f) for f in FILES}
    assert {"eegdeploy.pipeline", "eegdeploy.cli", "eegdeploy.prune.surgery", "eegdeploy.export.package"} <= names
    # and it resolves what it reads: the pipeline imports the export package and never the CLI
    mods = {m for m, _, _ in _imports(PKG / "pipeline.py")}
    assert "eegdeploy.export" in mods and not any(m.startswith("eegdeploy.cli") for m in mods)


def test_nothing_below_the_cli_imports_it():
    bad = [f"{_module_name(f)}:{line} imports {mod}"
           for f in FILES if not _module_name(f).startswith(ABOVE_CLI)
           for mod, _, line in _imports(f) if mod == "eegdeploy.cli" or mod.startswith("eegdeploy.cli.")]
    assert bad == []


def test_no_private_name_crosses_a_package_boundary():
    bad = []
    for f in FILES:
        here = _module_name(f)
        for mod, name, line in _imports(f):
            if not mod.startswith("eegdeploy") or _package(mod) == _package(here) or (mod, name) in ALLOWED:
                continue
            parts = mod.split(".")[1:] + ([name] if name else [])
            if any(_private(p) for p in parts):
                bad.append(f"{here}:{line} imports {mod}{'.' + name if name else ''}")
    assert bad == []


def test_the_rules_catch_a_violation():
    """The checks above are not vacuous: source breaking both rules is read the way the checks need."""
    found = _imports_in("from eegdeploy.cli._common import parse_ints\nfrom ..prune.surgery import _index\n",
                        "eegdeploy.report.probe", False)
    assert ("eegdeploy.cli._common", "parse_ints", 1) in found
    assert ("eegdeploy.prune.surgery", "_index", 2) in found
    assert _package("eegdeploy.prune.surgery") != _package("eegdeploy.report.probe")
    assert _private("_index") and not _private("__version__")
