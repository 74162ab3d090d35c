"""`make bench` part 3: the README's benchmark table, generated from benchmarks/RESULTS.md (never typed in).

Reads the "Rewrites and hardware-friendly widths" table that ``benchmarks.run`` wrote and puts its headline
columns between the ``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of README.md. tests/test_docs.py
checks that the README's table is exactly what this builds from the RESULTS.md in the repository.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Rewrites and hardware-friendly widths"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
HEADER = ["profile", "MACs slim/base", "pruning only", "compress default", "compress default, CPU clock",
          "rewrites alone, unpruned"]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def results_rows(results_md: str) -> list[dict[str, str]]:
    """The rows of RESULTS.md's rewrites table, as {column: cell}."""
    if SECTION not in results_md:
        raise ValueError(f"RESULTS.md has no {SECTION!r} section; run `python -m benchmarks.run` first")
    lines = results_md.split(SECTION, 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| profile"))
    header = _cells(lines[start])
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(ln))))
    return rows


def readme_table(results_md: str) -> str:
    """The README's table: MACs (rounded widths' MACs when they differ), pruning only, the default, rewrites alone."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in results_rows(results_md):
        rounded = re.search(r"\(([\d.]+)\)", r["round-to 16 (MACs)"])
        macs = r["MACs slim/base"]
        if rounded and rounded.group(1) != macs:
            macs = f"{macs} ({rounded.group(1)} rounded)"
        cells = [r["profile"], macs, r["pruning only"], r["round-to 16 + rewrites"].strip("*"),
                 r.get("round-to 16 + rewrites, CPU clock", "-"), r["rewrites alone (unpruned)"]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    args = ap.parse_args(argv)
    from eegdeploy.io import write_text

    text = Path(args.readme).read_text()
    if START not in text or END not in text:
        print(f"{args.readme} has no {START} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    table = readme_table(Path(args.results).read_text())
    write_text(args.readme, f"{head}{START}\n{table}\n{END}{tail}")
    print(f"wrote the benchmark table of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
