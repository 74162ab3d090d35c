"""Docs generated where they can be, tested where they cannot (issue 17): the README's profile table, its Python
example, and links that stay inside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]


def test_readme_profile_table_is_the_generated_one():
    from eegdeploy.cli.profiles import markdown

    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- profiles:start -->\n", 1)[1].split("\n<!-- profiles:end -->", 1)[0]
    assert block.strip() == markdown().strip(), "regenerate with: eegdeploy profiles --markdown"
    from eegdeploy.config import list_profiles

    assert len(block.strip().splitlines()) == 2 + len(list_profiles())


def test_readme_bench_table_is_generated_from_results():
    # the README's speedups are RESULTS.md's (make bench writes both): every cell comes from a RESULTS.md row
    from benchmarks.readme import END, START, readme_table, results_rows

    text = (ROOT / "README.md").read_text()
    block = text.split(START + "\n", 1)[1].split("\n" + END, 1)[0]
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert block.strip() == readme_table(results).strip(), "regenerate with: python -m benchmarks.readme"
    rows = results_rows(results)
    assert len(block.strip().splitlines()) == 2 + len(rows) and len(rows) >= 7
    for r, line in zip(rows, block.strip().splitlines()[2:]):
        assert line.startswith(f"| {r['profile']} | {r['MACs slim/base']}")
        assert f"| {r['pruning only']} | {r['round-to 16 + rewrites'].strip('*')} |" in line


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_stay_inside_the_repository(doc):
    text = doc.read_text()
    assert "../shared" not in text and "FINDINGS.md" not in text
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile, save_checkpoint

    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    save_checkpoint(bundle_from_profile(load_profile("eegnet-bci"), seed=0), tmp_path / "model.pt")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("slim test accuracy ") and "samples of synthetic:eegnet-bci (seed 0)" in lines[0]
    assert re.search(r"ort-cpu batch 64: \d+\.\d\dx faster", lines[1])
    for name in ("report.json", "report.md", "model-card.md", "slim.onnx", "baseline.onnx", "slim.pt"):
        assert (tmp_path / "out" / name).is_file(), name


def _make_recipe(target: str) -> list[str]:
    """The command lines of a Makefile target (the tab-indented lines right after ``target:``)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_ci_runs_the_readmes_test_command_and_it_runs_every_test():
    """CI (.ci/run) runs `make test`, the command the README gives; `make test` runs the whole suite (no marker
    filter, so the slow tier too) in parallel, and `make test-fast` the same command without the slow tier."""
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith("set ") and not line.startswith("cd ")]
    assert ci == ["make test"]
    assert "make test   #" in (ROOT / "README.md").read_text()
    make = (ROOT / "Makefile").read_text()
    xdist = re.search(r"^XDIST := (.+)$", make, re.M).group(1)
    assert xdist == "-n auto --dist loadfile"
    assert _make_recipe("test") == ["$(BIN)/python -m pytest -q $(XDIST)"]
    assert _make_recipe("test-fast") == ['$(BIN)/python -m pytest -q $(XDIST) -m "not slow"']
