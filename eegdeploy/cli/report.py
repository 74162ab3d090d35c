"""eegdeploy report merge: one latency table from several bench/report JSON files."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="combine results: 'report merge a.json b.json --out table.md'",
                       description="Work with result files. 'merge' builds one table across devices and models "
                                   "from 'eegdeploy bench --json' files and compress report.json files.")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION")
    m = rsub.add_parser("merge", help="merge bench/report JSON files into one Markdown table",
                        description="Merge bench --json and report.json files into one table (Markdown to --out, "
                                    "Rich table in the terminal).")
    m.add_argument("files", nargs="+", metavar="FILE.json")
    m.add_argument("--out", metavar="TABLE.md", help="write the Markdown table here")
    m.set_defaults(run=run_merge)
    p.set_defaults(run=lambda args, console: (p.print_help(), 2)[1])


def run_merge(args: argparse.Namespace, console) -> int:
    from rich.table import Table

    from eegdeploy.io import check_writable, write_text
    from eegdeploy.report.merge import COLUMNS, merge_reports, merged_markdown

    if args.out:
        check_writable(args.out)
    rows = merge_reports(args.files)
    table = Table(title=f"{len(rows)} measurements from {len(args.files)} file(s)", title_justify="left")
    for c in COLUMNS:
        table.add_column(c, justify="right" if c not in ("model", "cpu / device", "runtime") else "left")
    from eegdeploy.text import safe

    for r in rows:
        table.add_row(*(safe(c) for c in r))
    console.print(table)
    if args.out:
        write_text(args.out, merged_markdown(args.files))
        console.print(f"wrote {args.out}")
    return 0
