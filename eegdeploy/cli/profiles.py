"""eegdeploy profiles: list the shipped profiles."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profiles", help="list the shipped model profiles",
                       description="List the shipped profiles: model, input shape, classes and task.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    from rich.table import Table

    from eegdeploy.config import list_profiles, load_profile, profiles_dir

    table = Table(title=f"profiles in {profiles_dir()}", title_justify="left")
    for col in ("profile", "architecture", "input", "classes"):
        table.add_column(col, no_wrap=True)
    table.add_column("task", no_wrap=True)
    for name in list_profiles():
        p = load_profile(name)
        table.add_row(name, p.arch, "x".join(map(str, p.input.shape)), ", ".join(p.class_names), p.task)
    console.print(table)
    return 0
