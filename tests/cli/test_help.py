"""Help texts list the choices the registries hold (issue 17): torch-free copies are checked against them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eegdeploy.cli import build_parser
from eegdeploy.cli._common import KG_MODES, METHOD_NAMES, RECOVERIES

ROOT = Path(__file__).resolve().parents[2]


def _help(command: str) -> str:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return " ".join(sub.format_help().split())


def test_torch_free_name_lists_equal_the_registries():
    from eegdeploy.config import RECOVERIES as RECOVERY
    from eegdeploy.prune import METHODS
    from eegdeploy.recover.kg import MODES
    from eegdeploy.sweep import RECOVERIES as SWEEP_RECOVERIES

    assert sorted(METHOD_NAMES) == sorted(METHODS)
    assert tuple(RECOVERIES) == tuple(RECOVERY) == tuple(SWEEP_RECOVERIES)
    assert tuple(KG_MODES) == tuple(MODES)


def test_compress_help_lists_methods_recoveries_regions_and_data_sources():
    from eegdeploy.data import DATA_SOURCES, REGIONS

    text = _help("compress")
    assert "one of lfp, sfp, nsfp, uwmp" in text and "one of " + ", ".join(RECOVERIES) + ":" in text
    assert "(" + ", ".join(REGIONS) + ")" in text.replace("- ", "-")  # argparse may wrap at a hyphen
    for source in DATA_SOURCES:
        assert source in text, source
    assert "torcheeg-deap:FOLDER" in text


def test_every_data_source_prefix_is_understood_by_the_loader(tmp_path):
    import pytest

    from eegdeploy.config import load_profile
    from eegdeploy.data import DATA_SOURCES, load_arrays
    from eegdeploy.errors import DataError

    prof = load_profile("eegnet-bci")
    for source in DATA_SOURCES:
        if source.startswith("synthetic"):
            continue
        value = str(tmp_path / "x.npz") if source == "FILE.npz" else source.replace("FOLDER", str(tmp_path / "none"))
        with pytest.raises(Exception) as info:
            load_arrays(value, prof)
        assert "cannot tell what data" not in str(info.value), source
        assert isinstance(info.value, (DataError, ImportError)) or "torcheeg" in str(info.value)


def test_building_the_parser_does_not_import_torch():
    code = "import sys; from eegdeploy.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
