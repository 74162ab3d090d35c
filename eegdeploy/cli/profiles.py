"""eegdeploy profiles: list the shipped profiles (a Rich table, or Markdown for the README)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="list the shipped model profiles",
                       description="List the shipped profiles: model, input shape, classes and task. --markdown "
                                   "prints the table the README carries.")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (the README's profile table)")
    p.set_defaults(run=run)


def profile_rows() -> list[list[str]]:
    """(profile, architecture, input, classes, task) for each shipped profile, in name order."""
    from eegdeploy.config import list_profiles, load_profile

    rows = []
    for name in list_profiles():
        p = load_profile(name)
        rows.append([name, p.arch, "x".join(map(str, p.input.shape)), ", ".join(p.class_names), p.task])
    return rows


COLUMNS = ("profile", "architecture", "input", "classes", "task")


def markdown() -> str:
    from eegdeploy.report.render import markdown_table

    return markdown_table(list(COLUMNS), profile_rows())


def run(args: argparse.Namespace, console) -> int:
    if args.markdown:
        print(markdown())
        return 0
    from rich.table import Table

    from eegdeploy.config import profiles_dir

    table = Table(title=f"profiles in {profiles_dir()}", title_justify="left")
    for col in COLUMNS:  # names, architectures and shapes never wrap or shrink; classes and task may wrap
        wrap = col in ("classes", "task")
        table.add_column(col, no_wrap=not wrap, overflow="fold" if wrap else "ignore",
                         min_width=None if wrap else len(col))
    for row in profile_rows():
        table.add_row(*row)
    console.print(table)
    return 0
