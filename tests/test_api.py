import subprocess
import sys
from pathlib import Path

import eegdeploy

ROOT = Path(__file__).resolve().parents[1]


def test_public_api_resolves():
    for name in eegdeploy.__all__:
        assert getattr(eegdeploy, name) is not None, name
    assert eegdeploy.compress.__module__ == "eegdeploy.pipeline"


def test_importing_the_package_does_not_import_torch():
    code = "import sys, eegdeploy, eegdeploy.bench, eegdeploy.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
